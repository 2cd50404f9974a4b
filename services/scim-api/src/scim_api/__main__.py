"""Run the scim-api on its own: ``python -m scim_api`` (or ``roster serve scim-api``)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.observability import configure_logging

from scim_api.app import create_app
from scim_api.settings import ScimApiSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    settings = ScimApiSettings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
