"""Run the reconciler on its own: ``python -m reconciler`` (or ``roster serve reconciler``)."""

from __future__ import annotations

from roster_shared.service import run_service

from reconciler.app import create_app
from reconciler.settings import ReconcilerSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    run_service(create_app, ReconcilerSettings)


if __name__ == "__main__":
    main()
