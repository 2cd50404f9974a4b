"""A fatal failure (a consumer loop that ended on its own) stops a served service and makes the
process exit 70, so that the orchestrator restarts it (roster_shared.service.run)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

SERVICE = textwrap.dedent(
    """
    import asyncio, logging
    from aiohttp import web
    from roster_shared.service import (
        FATAL, ServiceSettings, error_middleware, internal_error_json, run_service, service_app,
    )

    def create_app(settings):
        app = service_app(
            error_middleware(internal=internal_error_json, log=logging.getLogger("t"))
        )

        async def die_soon(app):
            # Stands in for a consumer loop that ended: its on_death reports to FATAL.
            asyncio.get_running_loop().call_later(0.3, app[FATAL], "test loop ended")

        app.on_startup.append(die_soon)
        return app

    run_service(create_app, ServiceSettings)
    """
)


@pytest.mark.slow
def test_a_fatal_failure_exits_70() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ROSTER_PORT": str(port), "ROSTER_LOG_JSON": "false"}
    done = subprocess.run(
        [sys.executable, "-c", SERVICE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 70, done.stderr[-2000:]
    assert "fatal: test loop ended" in done.stderr
