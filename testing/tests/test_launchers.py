"""Launcher mechanics that need neither network nor servers: cache marker, reaper, limits."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from roster_testing import _watchdog
from roster_testing.kafka import _more_open_files, ensure_kafka_classpath


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``mvn`` on PATH that 'downloads' one jar and counts its runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    script = bin_dir / "mvn"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            echo run >> {calls}
            for arg in "$@"; do
              case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}";; esac
            done
            mkdir -p "$out" && touch "$out/kafka_2.13-test.jar"
            """
        )
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_classpath_is_fetched_once_and_refetched_after_interruption(
    tmp_path: Path, fake_mvn: Path
) -> None:
    cache = tmp_path / "cache"
    classpath = ensure_kafka_classpath(cache)
    assert classpath == str(cache / "lib" / "kafka_2.13-test.jar")
    assert (cache / "pom.xml").read_text().count("<artifactId>kafka_2.13</artifactId>") == 1
    ensure_kafka_classpath(cache)
    assert fake_mvn.read_text().count("run") == 1  # cached: Maven not run again

    (cache / ".complete").unlink()  # as if a previous download had been interrupted
    (cache / "lib" / "partial.jar").touch()
    assert ensure_kafka_classpath(cache) == classpath  # redone from an empty lib/
    assert fake_mvn.read_text().count("run") == 2


def test_classpath_reports_maven_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text("#!/bin/sh\necho 'Could not resolve dependencies' >&2\nexit 1\n")
    (bin_dir / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError, match="Could not resolve dependencies"):
        ensure_kafka_classpath(tmp_path / "cache")
    assert not (tmp_path / "cache" / ".complete").exists()


def test_watchdog_cleans_up_after_a_killed_parent(tmp_path: Path) -> None:
    """A parent that dies without cleanup (here os._exit) still gets its servers stopped."""
    victim_dir = tmp_path / "run"
    pid_file = tmp_path / "pid"
    parent = textwrap.dedent(
        f"""\
        import os, subprocess, time
        from pathlib import Path
        from roster_testing._watchdog import Watchdog
        dog = Watchdog()
        Path({str(victim_dir)!r}).mkdir()
        dog.remove_on_exit(Path({str(victim_dir)!r}))
        server = subprocess.Popen(["sleep", "300"], start_new_session=True)
        dog.kill_on_exit(server.pid, group=True, grace=5)
        Path({str(pid_file)!r}).write_text(str(server.pid))
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", parent], check=True, timeout=30)
    server_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _watchdog.proc_start_time(server_pid) is None and not victim_dir.exists():
            break
        time.sleep(0.1)
    assert _watchdog.proc_start_time(server_pid) is None, "server outlived its parent"
    assert not victim_dir.exists()


def test_watchdog_released_leaves_processes_alone(tmp_path: Path) -> None:
    server = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        dog = _watchdog.Watchdog()
        dog.kill_on_exit(server.pid, group=True, grace=1)
        dog.release()
        # release() returns once the reaper has exited, and a reaper that cleans up exits only
        # after its targets are dead: the server alive now was left alone, and nothing is left
        # that could still kill it (no sleep needed).
        assert dog._proc.returncode is not None
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()


def _low_then_more() -> None:
    """A parent started with a low soft limit (a login shell's 1024, say)."""
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    )
    _more_open_files()


def test_the_broker_child_gets_as_many_open_files_as_it_may() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource; print(*resource.getrlimit(resource.RLIMIT_NOFILE))",
        ],
        preexec_fn=_low_then_more,
        capture_output=True,
        text=True,
        check=True,
    )
    got_soft, got_hard = (int(n) for n in child.stdout.split())
    # The soft limit comes up to the hard one at least; where the process may (CAP_SYS_RESOURCE)
    # both go up to 2**20. Neither case is this test's choice: containers often drop the capability.
    assert got_soft == got_hard and got_hard in (hard, 1 << 20)
    # This process keeps its own limits: only the child was changed.
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
