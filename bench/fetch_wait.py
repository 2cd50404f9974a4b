"""What a reply listener's fetch settings cost, idle and under load, and what they add to a
record's latency (issue 10): ``fetch_max_wait_ms`` x ``fetch_min_bytes``, arms interleaved.

Each arm is a groupless consumer built by :class:`~roster_shared.bus.kafka.options.KafkaOptions`
(as the scim-api's and sso-login's reply listeners are), reading every partition of one
12-partition topic from its end, each in its own process so its CPU is its own (``/proc``):

* **idle**: nothing is sent for ``--idle`` seconds; the CPU is the fetch loop alone;
* **ping**: one record at a time (a conc-1 request's reply), sent by this process; the latency
  is send → the arm's ``getmany`` has it, and the CPU per record is the arm's.

    uv run python bench/fetch_wait.py [--idle 10] [--pings 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from roster_shared.bus.kafka import KafkaBus
from roster_shared.bus.kafka.options import KafkaOptions
from roster_shared.topics import TopicSpec
from roster_testing.infra import kafka_service

ARMS = ((20, 1), (100, 1), (500, 1), (1000, 1), (20, 1024))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    with open("/proc/self/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def arm(bootstrap: str, topic: str, wait_ms: int, min_bytes: int) -> None:
    """One arm (a child process): reads the topic and answers on stdin/stdout.

    ``cpu`` prints its CPU seconds; every record read is echoed as ``got <value> <time>``."""
    options = KafkaOptions(bootstrap=bootstrap, fetch_max_wait_ms=wait_ms)
    consumer: AIOKafkaConsumer = options.consumer(None, max_batch=1000)
    await consumer.start()
    consumer._fetcher._fetch_min_bytes = min_bytes  # the arm's one variable beside the wait
    tps = [TopicPartition(topic, p) for p in range(12)]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    print("ready", flush=True)

    async def commands() -> None:
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            if line.strip() == b"cpu":
                print(f"cpu {cpu_seconds()}", flush=True)

    task = asyncio.create_task(commands())
    try:
        while not task.done():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    print(f"got {record.value.decode()} {time.time()}", flush=True)
    finally:
        await consumer.stop()


class Child:
    def __init__(self, bootstrap: str, topic: str, wait_ms: int, min_bytes: int) -> None:
        self.name = f"wait {wait_ms} ms, min {min_bytes} B"
        self.args = (bootstrap, topic, str(wait_ms), str(min_bytes))
        self.got: dict[str, float] = {}
        self.cpu: asyncio.Future[float] | None = None
        self.arrived: dict[str, asyncio.Event] = {}

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--arm",
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.process.stdout is not None
        assert (await self.process.stdout.readline()).strip() == b"ready"
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            word, *rest = line.decode().split()
            if word == "got":
                self.got[rest[0]] = float(rest[1])
                self.arrived.setdefault(rest[0], asyncio.Event()).set()
            elif word == "cpu" and self.cpu is not None:
                self.cpu.set_result(float(rest[0]))

    async def cpu_now(self) -> float:
        assert self.process.stdin is not None
        self.cpu = asyncio.get_running_loop().create_future()
        self.process.stdin.write(b"cpu\n")
        await self.process.stdin.drain()
        return await self.cpu

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.terminate()
        await self.process.wait()


async def run_round(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    topic = f"fetchwait{uuid.uuid4().hex[:6]}"
    bus = KafkaBus(bootstrap, client_id="fetch-wait")
    await bus.start()
    await bus.ensure_topics([TopicSpec(topic, 12)])
    await bus.stop()
    children = [Child(bootstrap, topic, wait, min_bytes) for wait, min_bytes in ARMS]
    for child in children:
        await child.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await producer.start()
    out: dict[str, Any] = {}
    try:
        before = [await c.cpu_now() for c in children]
        await asyncio.sleep(args.idle)
        idle = [(await c.cpu_now() - b) / args.idle for c, b in zip(children, before, strict=True)]
        sent: dict[str, float] = {}
        before = [await c.cpu_now() for c in children]
        for i in range(args.pings):
            value = f"p{i}"
            sent[value] = time.time()
            await producer.send_and_wait(topic, value.encode(), partition=i % 12)
            waits = [c.arrived.setdefault(value, asyncio.Event()).wait() for c in children]
            await asyncio.wait_for(asyncio.gather(*waits), 5)
        spent = [await c.cpu_now() - b for c, b in zip(children, before, strict=True)]
        for child, idle_cpu, ping_cpu in zip(children, idle, spent, strict=True):
            lat = sorted((child.got[v] - t) * 1000 for v, t in sent.items() if v in child.got)
            out[child.name] = {
                "idle_cpu_ms_per_s": round(idle_cpu * 1000, 2),
                "ping_p50_ms": round(statistics.median(lat), 2),
                "ping_p90_ms": round(lat[int(len(lat) * 0.9)], 2),
                "cpu_ms_per_ping": round(ping_cpu * 1000 / args.pings, 3),
                "received": len(lat),
            }
    finally:
        await producer.stop()
        for child in children:
            await child.stop()
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with kafka_service(quick_start=False) as kafka:
        return {
            f"round {n}": {"load": os.getloadavg(), **await run_round(kafka.bootstrap, args)}
            for n in range(args.rounds)
        }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--arm"]:
        bootstrap, topic, wait, min_bytes = sys.argv[2:6]
        asyncio.run(arm(bootstrap, topic, int(wait), int(min_bytes)))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--pings", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
