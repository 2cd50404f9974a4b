"""The ``roster`` command and ``roster dev``, run as a user runs them."""
