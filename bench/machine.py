"""How fast this machine is today for the kind of work Roster does: a few seconds of probes to
print beside a benchmark run, so runs of different days can be told apart.

On the 2-core VM these benches run on, the same code's CPU per SCIM create moved by up to 2x
between evenings while a pure-Python loop did not move at all. What moved was the cost of one
process waking another on the *other* CPU (a loopback round trip between two processes): each
such wake-up is an inter-processor interrupt, which this hypervisor makes expensive on some
days. Every Roster request is a chain of such wake-ups (client, scim-api, Kafka, user-store,
PostgreSQL), so that figure says more about a run's absolute numbers than the loop does.

    uv run python bench/machine.py

Prints one JSON line: the loop's seconds, and the round trip's wall and client CPU
microseconds with both processes on one CPU and on two (Linux only: ``sched_setaffinity``).
"""

from __future__ import annotations

import json
import os
import socket
import time

ROUND_TRIPS = 20_000


def _loop() -> float:
    """Seconds for five million empty iterations: the interpreter's own speed."""
    started = time.perf_counter()
    for _ in range(5_000_000):
        pass
    return time.perf_counter() - started


def _round_trip(client_cpu: int, server_cpu: int) -> dict[str, float]:
    """Microseconds per 100-byte TCP round trip over loopback between two processes pinned to
    the CPUs given: wall time, and the client's user and system CPU time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    address = listener.getsockname()
    child = os.fork()
    if child == 0:  # the echo side
        try:
            os.sched_setaffinity(0, {server_cpu})
            peer, _ = listener.accept()
            peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := peer.recv(200):
                peer.sendall(data)
        finally:
            os._exit(0)
    listener.close()
    os.sched_setaffinity(0, {client_cpu})
    try:
        with socket.create_connection(address) as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            message = b"x" * 100
            for _ in range(500):  # warm up
                client.sendall(message)
                client.recv(200)
            before, started = os.times(), time.perf_counter()
            for _ in range(ROUND_TRIPS):
                client.sendall(message)
                client.recv(200)
            wall, after = time.perf_counter() - started, os.times()
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        os.waitpid(child, 0)
    return {
        "wall_us": round(wall / ROUND_TRIPS * 1e6, 1),
        "user_us": round((after.user - before.user) / ROUND_TRIPS * 1e6, 1),
        "system_us": round((after.system - before.system) / ROUND_TRIPS * 1e6, 1),
    }


def probe() -> dict[str, object]:
    """The probes, as one dictionary."""
    out: dict[str, object] = {"cores": os.cpu_count(), "loop_5m_s": round(_loop(), 3)}
    out["round_trip_same_cpu"] = _round_trip(0, 0)
    if (os.cpu_count() or 1) > 1:
        out["round_trip_across_cpus"] = _round_trip(0, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(probe()))
