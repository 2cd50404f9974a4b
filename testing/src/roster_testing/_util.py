"""Small helpers shared by the launchers: paths, ports, log tails, sync-over-async.

Kept free of third-party imports so that ``python -m roster_testing fetch`` stays fast.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CACHE_ENV = "ROSTER_CACHE_DIR"


def repo_root(start: Path | None = None) -> Path:
    """Return the workspace root: the nearest ancestor holding ``uv.lock``.

    Walking up from this file (not the current directory) means the cache lands in the same
    place whether pytest, a benchmark or CI invokes us, from whatever working directory.
    """
    here = (start or Path(__file__)).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "uv.lock").is_file():
            return candidate
    raise RuntimeError(f"no uv.lock above {here}: cannot locate the repository root")


def cache_dir() -> Path:
    """Directory for downloaded artefacts (Kafka jars); ``$ROSTER_CACHE_DIR`` overrides.

    ``<repo>/.cache`` is git-ignored and survives between sessions on the same machine, so
    only the first run pays for the Maven download.
    """
    override = os.environ.get(CACHE_ENV)
    path = Path(override) if override else repo_root() / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    """Ask the kernel for an unused loopback TCP port.

    There is an unavoidable window between closing this probe socket and the server binding
    the port; the launchers retry with a fresh port when a bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a log file, for error messages (empty if unreadable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_coroutine_sync(factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
    """Run a coroutine to completion on a private event loop in a worker thread.

    Fixtures and launchers are synchronous, yet may be called while an event loop is already
    running in this thread (pytest-asyncio, ``asyncio.to_thread`` callers...). A fresh thread
    with ``asyncio.run`` works in every case and never touches the caller's loop.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(lambda: asyncio.run(factory()))
        return future.result(timeout=timeout)


class Deadline:
    """A monotonic deadline, to share one time budget across several waiting steps."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        """True once the budget is spent."""
        return self.remaining() <= 0
