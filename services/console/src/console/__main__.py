"""Run the console on its own: ``python -m console`` (or ``roster serve console``)."""

from __future__ import annotations

from roster_shared.service import run_service

from console.app import create_app
from console.settings import ConsoleSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    run_service(create_app, ConsoleSettings)


if __name__ == "__main__":
    main()
