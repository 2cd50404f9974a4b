"""roster_cli: the ``roster`` command and the embedded all-in-one launcher (``roster dev``).

The one place that composes services (docs/design.md, "Interfaces"): every service depends only on
``roster_shared``; this package depends on all of them.
"""
