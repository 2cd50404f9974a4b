"""Run ``roster`` as a user does: the console script in a subprocess, talked to over HTTP.

Also a pytest plugin (named in ``tests/conftest.py``): the ``dev`` fixture, a :class:`DevServer`
on its own data directory and port, killed after the test if it still runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

ROSTER = Path(sys.executable).with_name("roster")
READY_LINE = "Press Ctrl-C to stop."


def clean_env() -> dict[str, str]:
    """This process's environment without any ROSTER_* setting that could leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def roster(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one ``roster`` command to completion."""
    return subprocess.run(
        [str(ROSTER), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    url: str, *, method: str = "GET", token: str | None = None, timeout: float = 10
) -> Response:
    """One HTTP request; error statuses are answers too."""
    request = urllib.request.Request(url, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, error.headers, error.read())


@dataclass
class DevServer:
    """``roster dev --port PORT --data DATA`` in a subprocess, its output in files."""

    data: Path
    port: int
    logs: Path
    runs: int = 0
    process: subprocess.Popen[bytes] | None = None
    _files: list[Any] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout_path(self) -> Path:
        return self.logs / f"dev-{self.runs}.out"

    @property
    def output(self) -> str:
        return self.stdout_path.read_text()

    @property
    def errors(self) -> str:
        return (self.logs / f"dev-{self.runs}.err").read_text()

    def start(self, timeout: float = 60) -> str:
        """Start and wait until it serves and has printed its banner; returns the banner."""
        assert self.process is None
        self.runs += 1
        stdout = self.stdout_path.open("wb")
        stderr = (self.logs / f"dev-{self.runs}.err").open("wb")
        self._files = [stdout, stderr]
        self.process = subprocess.Popen(
            [str(ROSTER), "dev", "--port", str(self.port), "--data", str(self.data)],
            cwd=self.logs,
            env=clean_env(),
            stdout=stdout,
            stderr=stderr,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"roster dev exited with {self.process.returncode}:\n{self.output}\n"
                    f"{self.errors}"
                )
            if READY_LINE in self.output:
                try:
                    if http(self.base + "/healthz", timeout=2).status == 200:
                        return self.output
                except OSError:
                    pass
            time.sleep(0.1)
        raise AssertionError(f"roster dev did not start in time:\n{self.output}\n{self.errors}")

    def stop(self, signum: int = signal.SIGINT, timeout: float = 20) -> tuple[int, float]:
        """Send ``signum``; returns the exit code and how long stopping took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        finally:
            self._close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()

    def _close(self) -> None:
        for file in self._files:
            file.close()
        self._files = []
        self.process = None


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevServer]:
    """A ``roster dev`` ready to start, on a data directory and a port of its own."""
    logs = tmp_path / "logs"
    logs.mkdir()
    server = DevServer(data=tmp_path / "data", port=free_port(), logs=logs)
    yield server
    server.kill()
