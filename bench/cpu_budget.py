"""Where a request's CPU goes on this machine: the Roster processes, the broker, the database,
the load generator, and every CPU together (Linux ``/proc``).

The server CPU per request (``compare.py``'s "CPU ms/req") leaves out what the request costs the
broker and the database, and on a 2-core machine that shares both with the services it is the
sum that bounds a closed-loop rate: at ``machine`` ms of busy CPU per request, ``cores * 1000 /
machine`` requests per second is the most this machine can do even with nothing waiting — the
*ceiling* printed beside each rate. A rate well under its ceiling waits somewhere (a lock, a
round trip, a serial stage); one near it is bounded by CPU, and only less CPU per request moves it.

The broker and the database are found by their process names (``java``, ``postgres``): the ones
the fixtures start, or any others running here. A server named by environment variables on
another machine is not counted, and ``machine`` counts whatever else runs meanwhile. The
database's share includes its background work: autovacuum and analyze of the tables a phase of
creates just wrote run during the phases after it, whichever arm they serve. The same
``userName eq`` lookups measured 0.12 to 0.34 ms of database CPU each across arms and runs on
one morning, while the function behind them read 3 index blocks per lookup in every one of the
databases (``pg_stat_get_xact_blocks_fetched``): read a phase's database figure with the writes
before it in mind, and compare arms over several rounds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
CLASSES = {"java": "broker", "postgres": "database"}


@dataclass
class Snapshot:
    """CPU seconds used so far, per class, and the machine's busy seconds since boot."""

    seconds: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0


def process_seconds(pid: int) -> tuple[str, float] | None:
    """A process's name and the CPU seconds (user + system) it used so far; None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # gone meanwhile
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat.rpartition(")")[2].split()
    return name, (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def snapshot(servers: list[int]) -> Snapshot:
    """Now: the ``servers`` pids' CPU, the broker's, the database's (all its backends), this
    process's (the load generator), and all CPUs' busy time."""
    out = Snapshot(seconds={"servers": 0.0, "broker": 0.0, "database": 0.0, "generator": 0.0})
    own = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        found = process_seconds(pid)
        if found is None:
            continue
        name, seconds = found
        if pid in servers:
            out.seconds["servers"] += seconds
        elif pid == own:
            out.seconds["generator"] += seconds
        elif name in CLASSES:
            out.seconds[CLASSES[name]] += seconds
    cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    out.machine = (sum(cpu[:8]) - cpu[3] - cpu[4]) / TICK
    return out


def per_request(before: Snapshot, after: Snapshot, requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request between two snapshots, per class and for the machine,
    and the machine's ceiling (requests per second with every CPU busy)."""
    n = max(requests, 1)
    out = {
        f"{name}_cpu_ms": round((after.seconds[name] - before.seconds[name]) * 1000 / n, 3)
        for name in before.seconds
    }
    machine = (after.machine - before.machine) * 1000 / n
    out["machine_cpu_ms"] = round(machine, 3)
    out["ceiling_per_second"] = round((os.cpu_count() or 1) * 1000 / machine) if machine else 0
    return out
