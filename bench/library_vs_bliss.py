"""The library against BLISS 2.4's own channels: the same hop, the same work, the same run.

    .venv/bin/python bench/library_vs_bliss.py [--rate 200] [--count 2000] [--rounds 4]

A setter process sets one channel ``--count`` times at ``--rate`` Hz, each value its own
``time.time()``; a receiver process's callback takes ``time.time() - value``. The floor is
BLISS 2.4 in both processes (gevent, as a session runs); the subject is tango_channels in
both (threads, as the device runs it). Rounds of each, in turn, on one private Redis: the
machine's drift is shared out between them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from common import percentile  # noqa: E402
from device_bench import bliss_hop, go, result  # noqa: E402
from report import Report, add_json_option  # noqa: E402

from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402

LIBRARY_SETTER = r"""
import sys, time
from tango_channels import Bus, Channel
url, name, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
channel = Channel(name, value=0.0, bus=Bus(url))
time.sleep(0.5)
print("READY", flush=True)
while line := sys.stdin.readline().strip():  # "go N": N values, then DONE
    start = time.perf_counter()
    for i in range(int(line.split()[1])):
        channel.value = time.time()
        time.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
    time.sleep(0.5)
    print("DONE", flush=True)
"""
LIBRARY_RECEIVER = r"""
import json, sys, time
from tango_channels import Bus, Channel
url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
latencies = []
def on_value(value):
    if value is not None:  # None: joined while no setter held it (between two rounds)
        latencies.append(time.time() - value)
channel = Channel(name, bus=Bus(url), callback=on_value)
channel.value
time.sleep(0.2)
latencies.clear()
print("READY", flush=True)
deadline = time.time() + count / 50 + 60
while len(latencies) < count and time.time() < deadline:
    time.sleep(0.05)
print(json.dumps(latencies), flush=True)
"""


def library_hop(url: str, rate: float, count: int) -> list[float]:
    """tango_channels -> tango_channels: set in one process -> callback in another."""
    setter = subprocess.Popen(
        [sys.executable, "-c", LIBRARY_SETTER, url, "bench.libhop", str(rate), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    receiver = subprocess.Popen(
        [sys.executable, "-c", LIBRARY_RECEIVER, url, "bench.libhop", str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert setter.stdout is not None and setter.stdout.readline().strip() == "READY"
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "READY"
        go(setter, count)  # the same "go N" / DONE exchange as device_bench's BLISS setter
        return result(receiver)
    finally:
        setter.kill()
        receiver.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    add_json_option(parser, "library_vs_bliss")
    options = parser.parse_args()
    report = Report("library_vs_bliss")
    redis = LocalRedis()
    try:
        per_round = options.count // options.rounds
        bliss: list[float] = []
        ours: list[float] = []
        for _ in range(options.rounds):
            bliss += bliss_hop(redis.url, options.rate, per_round)
            ours += library_hop(redis.url, options.rate, per_round)
        section = (
            f"set -> callback in another process, {options.count} values at "
            f"{options.rate:.0f} Hz, in {options.rounds} rounds of each in turn"
        )
        print(f"{section} (ms):")
        figures = {}
        for label, values in (("BLISS 2.4 -> BLISS 2.4", bliss), ("tango_channels", ours)):
            median, p99 = statistics.median(values), percentile(values, 0.99)
            figures[label] = (median, p99)
            print(
                f"   {label:24s} n={len(values):5d}  median {median * 1e3:6.3f}  "
                f"p99 {p99 * 1e3:6.3f}"
            )
        (b50, b99), (o50, o99) = figures["BLISS 2.4 -> BLISS 2.4"], figures["tango_channels"]
        print(f"   ratio to BLISS: median {o50 / b50:.2f}x, p99 {o99 / b99:.2f}x (target <= 1.0x)")
        report.figure(section, "BLISS 2.4 -> BLISS 2.4, median", round(b50 * 1e3, 3), "ms")
        report.figure(section, "BLISS 2.4 -> BLISS 2.4, p99", round(b99 * 1e3, 3), "ms")
        report.figure(
            section, "tango_channels, median", round(o50 * 1e3, 3), "ms", floor=round(b50 * 1e3, 3)
        )
        report.figure(
            section, "tango_channels, p99", round(o99 * 1e3, 3), "ms", floor=round(b99 * 1e3, 3)
        )
        report.figure(section, "ratio to BLISS, median", round(o50 / b50, 2), "x")
        report.figure(section, "ratio to BLISS, p99", round(o99 / b99, 2), "x", target_max=1.0)
    finally:
        redis.stop()
    report.write(options.json)


if __name__ == "__main__":
    main()
