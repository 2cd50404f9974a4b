"""Run the webhooks service on its own: ``python -m webhooks`` (or ``roster serve webhooks``)."""

from __future__ import annotations

from roster_shared.service import run_service

from webhooks.app import create_app
from webhooks.settings import WebhooksSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    run_service(create_app, WebhooksSettings)


if __name__ == "__main__":
    main()
