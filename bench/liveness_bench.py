"""What noticing dead holders costs: the liveness check of 10,000 channels.

    .venv/bin/python bench/liveness_bench.py [--channels N] [--checks N] [--gone N]

Starts its own ``redis-server``; another process holds ``--channels`` channels; in this
process the server's :class:`~tango_channels_device.bridge.publisher.Publisher` (the device's
Tango-free half, Tango replaced by a recording sink) follow them all, as a BeaconChannels
device with that many ``Channels`` lines would. It prints, per check (what the survey thread
does every ``DiscoveryPeriod``):

1. the Redis round trips and commands it costs (counted by Redis, ``INFO commandstats``),
   and its wall-clock and CPU time in this process (``time.thread_time`` of the checking
   thread, plus the reader's share, measured as process CPU);
2. after the holder closes ``--gone`` of its channels: the queries the next check sends
   (only for channels whose subscriber count dropped) and how soon those channels show
   "nobody holds". A second publisher (another device) follows them too, so that a dropped
   count still leaves other subscribers, and must be asked.

The figures are also written to ``bench/results/liveness_bench.json`` (``--json PATH``; see
``bench/report.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
import redis  # noqa: E402
from report import Report, add_json_option  # noqa: E402

from tango_channels import Bus  # noqa: E402
from tango_channels.protocol import REJOIN_WINDOW  # noqa: E402
from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402
from tango_channels_device.bridge.devices import ChannelsBridge  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests"))
from support.bridges import Bridges  # noqa: E402

HOLDER = """
import sys
from tango_channels import Bus, Channel
url, count = sys.argv[1], int(sys.argv[2])
bus = Bus(url)
held = [Channel(f"live.{i:05d}", value=float(i), bus=bus) for i in range(count)]
while bus.pending_values():
    pass
print("READY", flush=True)
for line in sys.stdin:
    gone = int(line)
    for channel in held[:gone]:
        channel.close()
    held = held[gone:]
    print("CLOSED", flush=True)
"""


def commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def commands_text(counts: dict[str, int]) -> str:
    """``{'pubsub|numsub': 1}`` as ``1 pubsub|numsub``."""
    return ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "none"


def follow(url: str, names: list[str]) -> tuple[Bridges, ChannelsBridge]:
    """A server's publisher and a device following ``names``, their attributes made; the
    survey is this bench's (``look_now``)."""
    bridges = Bridges(url, lambda address, **kwargs: Bus(address, **kwargs), survey=False)
    device, _ = bridges.channels(
        [f"{name} type=float" for name in names], discovery_period=3600, settle=120
    )
    return bridges, device


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--checks", type=int, default=20)
    parser.add_argument("--gone", type=int, default=100)
    add_json_option(parser, "liveness_bench")
    options = parser.parse_args()
    report = Report("liveness_bench")
    server = LocalRedis()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, server.url, str(options.channels)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "READY"
        client = redis.Redis.from_url(server.url)
        names = [f"live.{i:05d}" for i in range(options.channels)]
        started = time.perf_counter()
        bridges, device = follow(server.url, names)
        publisher = bridges.publisher
        print(f"{options.channels} channels followed in {time.perf_counter() - started:.2f} s")
        other, _ = follow(server.url, names)
        # Liveness verdicts wait for holders to rejoin for REJOIN_WINDOW after connecting.
        time.sleep(max(0.0, REJOIN_WINDOW - (time.perf_counter() - started)) + 0.5)

        walls, cpus, costs = [], [], []
        for _ in range(options.checks):
            before = commands(client)
            cpu, wall = time.process_time(), time.perf_counter()
            publisher.look_now(device, settings=False)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            time.sleep(0.2)  # answers, if any, come in
            costs.append(delta(commands(client), before))
        per_check = costs[-1]
        section = f"one liveness check of {options.channels} channels, {options.checks} checks"
        print(f"\n1. {section}")
        print(f"   Redis commands per check: {per_check} (INFO commandstats; info itself aside)")
        wall, longest = statistics.median(walls) * 1000, max(walls) * 1000
        cpu = statistics.median(cpus) * 1000
        print(
            f"   wall: median {wall:.1f} ms, "
            f"max {longest:.1f} ms; CPU of this process: median "
            f"{cpu:.1f} ms"
        )
        print(
            f"   at DiscoveryPeriod 2 s: {statistics.median(cpus) / 2 * 100:.2f} % of one core"
        )
        report.figure(section, "Redis commands per check", commands_text(per_check))
        report.figure(section, "wall time per check, median", round(wall, 1), "ms")
        report.figure(section, "wall time per check, max", round(longest, 1), "ms")
        report.figure(section, "CPU time per check, median", round(cpu, 1), "ms")
        report.figure(
            section,
            "CPU at DiscoveryPeriod 2 s",
            round(statistics.median(cpus) / 2 * 100, 2),
            "% of one core",
        )

        holder.stdin.write(f"{options.gone}\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "CLOSED"
        time.sleep(0.5)  # Redis has dropped their subscriptions
        before = commands(client)
        started = time.perf_counter()
        publisher.look_now(device, settings=False)
        gone = [device.records[f"live.{i:05d}"] for i in range(options.gone)]
        while any(record.live for record in gone):  # read from here: a bench's look
            time.sleep(0.001)
        noticed = time.perf_counter() - started
        time.sleep(0.2)
        section = f"the holder closes {options.gone} channels; the next check"
        print(f"\n2. {section}:")
        cost = delta(commands(client), before)
        print(f"   Redis commands: {cost}")
        print(f"   all {options.gone} shown as held by nobody {noticed * 1000:.0f} ms after it")
        report.figure(section, "Redis commands", commands_text(cost))
        report.figure(
            section,
            f"all {options.gone} shown as held by nobody after",
            round(noticed * 1000),
            "ms",
        )
        report.write(options.json)
        for done in (bridges, other):
            done.stop()
    finally:
        holder.kill()
        server.stop()


if __name__ == "__main__":
    main()
