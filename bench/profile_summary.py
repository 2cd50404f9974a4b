"""Summarise a py-spy ``--format raw`` profile: where the samples are, by module and by function.

    py-spy record -p PID -d 25 -r 200 -f raw --nonblocking -o out.txt   # as root
    uv run python bench/profile_summary.py out.txt [--top 25] [--match substring ...]

Prints the share of samples that are idle (the event loop waiting in ``select``/``epoll``), the
inclusive share of each ``--match`` substring (e.g. ``sqlalchemy``, ``pydantic``, ``access``),
and the top functions by self and by inclusive samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = ("select (selectors.py", "_run_once (asyncio/base_events.py", "epoll")
FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^:]*)(?::\d+)?\)$")


def short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['name']} ({file})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", nargs="*", default=[])
    args = parser.parse_args()
    total = idle = 0
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    for line in args.profile.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";") if f]
        total += count
        leaf = frames[-1] if frames else "?"
        if any(marker in leaf for marker in IDLE) and "select" in leaf:
            idle += count
            continue
        own[leaf] += count
        for frame in set(frames):
            inclusive[frame] += count
        for needle in args.match:
            if needle in stack:
                matched[needle] += count
    busy = total - idle
    print(f"{total} samples; idle {idle / total:.0%}; busy {busy} ({busy / total:.0%})")
    for needle in args.match:
        print(f"  {needle!r}: {matched[needle] / max(busy, 1):.1%} of busy")
    print("-- self (share of busy)")
    for name, count in own.most_common(args.top):
        print(f"{count / busy:6.1%}  {name}")
    print("-- inclusive (share of busy)")
    for name, count in inclusive.most_common(args.top):
        print(f"{count / busy:6.1%}  {name}")


if __name__ == "__main__":
    main()
