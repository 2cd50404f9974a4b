"""Root conftest: shared fixtures for the whole workspace's tests."""

# roster_testing: the servers; tests.cli.devserver: the `dev` fixture (a `roster dev` process).
pytest_plugins = ["roster_testing.pytest_plugin", "tests.cli.devserver"]
