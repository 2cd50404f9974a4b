"""roster_cli."""
