"""Root conftest: shared fixtures for the whole workspace's tests."""

pytest_plugins = ["roster_testing.pytest_plugin"]
