"""roster_cli: the ``roster`` command, and the one place that composes services.

Every service depends only on ``roster_shared``; this package depends on all of them:
:mod:`roster_cli.compose` wires them together for ``roster dev``, ``roster reconcile``, the test
stacks and the benches.
"""
