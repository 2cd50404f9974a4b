"""Run sso-login on its own: ``python -m sso_login`` (or ``roster serve sso-login``)."""

from __future__ import annotations

from roster_shared.service import run_service

from sso_login.app import create_app
from sso_login.settings import SsoLoginSettings


def main() -> None:
    """Read settings from ``ROSTER_*`` variables and serve."""
    run_service(create_app, SsoLoginSettings)


if __name__ == "__main__":
    main()
