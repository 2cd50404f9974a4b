"""The ``roster`` command as a user runs it: ``dev``, ``serve``, ``migrate``, the administration
commands (on the embedded data directory and through the admin APIs), and the composer behind
them."""
