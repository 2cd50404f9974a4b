"""Run the user-store on its own: ``python -m user_store`` (or ``roster serve user-store``)."""

from __future__ import annotations

from roster_shared.service import run_service

from user_store.app import create_app
from user_store.settings import UserStoreSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    run_service(create_app, UserStoreSettings)


if __name__ == "__main__":
    main()
