"""roster_shared."""
