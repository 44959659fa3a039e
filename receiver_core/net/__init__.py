"""Network interfaces through rtnetlink."""
