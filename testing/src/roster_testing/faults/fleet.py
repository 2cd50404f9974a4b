"""The ``roster serve`` processes of one fault run, each with its log in a file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from roster_testing._util import free_port

ROSTER = Path(sys.executable).with_name("roster")


class Fleet:
    """Named ``roster serve`` processes (``store-a``, ``scim-b``...) on fixed ports.

    A process keeps its port and environment across :meth:`kill` and :meth:`start`, as an
    orchestrator restarting a container would.
    """

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._specs: dict[str, tuple[str, dict[str, str]]] = {}
        self.ports: dict[str, int] = {}

    def add(self, name: str, service: str, env: dict[str, str]) -> str:
        """Register a process (not started); returns its base URL."""
        self.ports[name] = free_port()
        self._specs[name] = (service, env)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> None:
        service, env = self._specs[name]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
        with (self.logs / f"{name}.log").open("ab") as log:
            self._procs[name] = subprocess.Popen(
                [str(ROSTER), "serve", service],
                env={**clean, **env, "ROSTER_PORT": str(self.ports[name])},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str) -> None:
        """``kill -9``: no shutdown hook runs, nothing is flushed or committed."""
        proc = self._procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.wait()

    def alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    async def wait_ready(self, name: str, within: float = 90.0) -> float:
        """Wait for ``/readyz`` 200; returns the seconds it took."""
        started = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while time.monotonic() - started < within:
                proc = self._procs.get(name)
                if proc is None or proc.poll() is not None:
                    code = None if proc is None else proc.returncode
                    raise RuntimeError(f"{name} exited ({code}):\n{self.log_tail(name)}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.url(name) + "/readyz") as response:
                        if response.status == 200:
                            return time.monotonic() - started
                await asyncio.sleep(0.25)
        raise RuntimeError(f"{name} not ready in {within} s:\n{self.log_tail(name)}")

    def stop_all(self) -> None:
        for name in list(self._procs):
            proc = self._procs.pop(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
