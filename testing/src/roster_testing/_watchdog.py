"""A reaper process that stops our servers if the Python process that started them dies.

``atexit`` and pytest finalizers cover normal exits and Ctrl-C, but not ``SIGKILL``, an
``os._exit`` (pytest-timeout's thread method) or an OOM kill. Kafka and PostgreSQL run in their
own sessions, so nothing else would stop them and they would hold ports and memory until the
machine is recycled.

The parent starts this file as a separate interpreter (``python -I _watchdog.py``) in its own
session, keeping the write end of a pipe connected to the watchdog's stdin. The parent sends
JSON lines describing what to clean up. End-of-file without a prior ``done`` line means the
parent died: the watchdog then runs the cleanup commands, signals the recorded processes
(SIGKILL after a grace period) and removes the recorded directories. A pipe needs no polling
and cannot be fooled by PID reuse of the parent.

This file must not import anything outside the standard library: it runs isolated.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any


def proc_start_time(pid: int) -> str | None:
    """Kernel start time of ``pid`` (field 22 of /proc/PID/stat), or None if it is gone.

    Recorded alongside a PID so that a recycled PID is never signalled by mistake.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has already exited
        return None
    return fields[19]


class Watchdog:
    """Parent-side handle: tells the reaper what to clean up if this process dies."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", str(Path(__file__).resolve())],
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal must not kill the reaper first
            )
        finally:
            os.close(read_fd)
        self._pipe: IO[str] | None = os.fdopen(write_fd, "w", buffering=1)

    def _send(self, message: dict[str, Any]) -> None:
        if self._pipe is not None:
            self._pipe.write(json.dumps(message) + "\n")
            self._pipe.flush()

    def kill_on_exit(
        self, pid: int, *, group: bool, sig: int = signal.SIGTERM, grace: float = 20.0
    ) -> None:
        """Signal ``pid`` (its whole process group if ``group``) should the parent die."""
        start = proc_start_time(pid)
        if start is not None:
            self._send(
                {"op": "kill", "pid": pid, "group": group, "sig": int(sig), "grace": grace}
                | {"start": start}
            )

    def run_on_exit(self, argv: list[str], timeout: float = 30.0) -> None:
        """Run ``argv`` (e.g. ``pg_ctl stop -m immediate``) should the parent die."""
        self._send({"op": "run", "argv": argv, "timeout": timeout})

    def remove_on_exit(self, path: Path) -> None:
        """Delete the directory ``path`` should the parent die (after stopping processes)."""
        self._send({"op": "rm", "path": str(path)})

    def release(self) -> None:
        """The parent cleaned up itself: let the reaper exit without doing anything."""
        if self._pipe is None:
            return
        try:
            self._send({"op": "done"})
            self._pipe.close()
        except OSError:  # reaper already gone: nothing left to tell it
            pass
        self._pipe = None
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _alive(pid: int, start: str) -> bool:
    return proc_start_time(pid) == start


def _signal(target: dict[str, Any], sig: int) -> None:
    try:
        if target["group"]:
            os.killpg(target["pid"], sig)
        else:
            os.kill(target["pid"], sig)
    except OSError:
        pass


def _cleanup(
    commands: list[dict[str, Any]], targets: list[dict[str, Any]], paths: list[str]
) -> None:
    for command in commands:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                command["argv"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=command["timeout"],
                check=False,
            )
    live = [t for t in targets if _alive(t["pid"], t["start"])]
    for target in live:
        _signal(target, target["sig"])
    deadline = time.monotonic() + max((t["grace"] for t in live), default=0.0)
    while live and time.monotonic() < deadline:
        time.sleep(0.2)
        live = [t for t in live if _alive(t["pid"], t["start"])]
    for target in live:
        _signal(target, signal.SIGKILL)
    if live:
        time.sleep(1.0)  # let the kernel release files before removing directories
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    commands: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    paths: list[str] = []
    for line in sys.stdin:
        message = json.loads(line)
        op = message["op"]
        if op == "done":
            return
        if op == "kill":
            targets.append(message)
        elif op == "run":
            commands.append(message)
        elif op == "rm":
            paths.append(message["path"])
    _cleanup(commands, targets, paths)


if __name__ == "__main__":
    _main()
