"""Run sso-login on its own: ``python -m sso_login`` (or ``roster serve sso-login``)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.observability import configure_logging

from sso_login.app import create_app
from sso_login.settings import SsoLoginSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    settings = SsoLoginSettings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
