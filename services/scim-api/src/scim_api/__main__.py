"""Run the scim-api on its own: ``python -m scim_api`` (or ``roster serve scim-api``)."""

from __future__ import annotations

from roster_shared.service import run_service

from scim_api.app import create_app
from scim_api.settings import ScimApiSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    run_service(create_app, ScimApiSettings)


if __name__ == "__main__":
    main()
