"""Run the user-store on its own: ``python -m user_store`` (or ``roster serve user-store``)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.observability import configure_logging

from user_store.app import create_app
from user_store.settings import UserStoreSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    settings = UserStoreSettings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
