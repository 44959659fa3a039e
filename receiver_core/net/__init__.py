"""Network interfaces through netlink (pyroute2)."""
