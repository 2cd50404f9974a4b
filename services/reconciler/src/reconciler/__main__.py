"""Run the reconciler on its own: ``python -m reconciler`` (or ``roster serve reconciler``)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.observability import configure_logging

from reconciler.app import create_app
from reconciler.settings import ReconcilerSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    settings = ReconcilerSettings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
