"""roster_testing."""
