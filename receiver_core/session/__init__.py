"""Sessions: the state table, the box PIN, meeting IDs, the block list and the manager."""
