"""Speed of the BeaconChannels device, measured against its floor in the same run.

    .venv/bin/python bench/device_bench.py [--rate HZ] [--count N] [--channels N]

Starts its own redis-server, real BLISS 2.4 processes (the tests' peer venv), device servers
(file databases, loopback) and client processes, then prints:

1. end-to-end latency, a BLISS process sets a channel -> a Tango client's change-event
   callback (event time - the value's source timestamp), median and p99; and its floor: a
   BLISS -> BLISS hop (set -> callback in another BLISS process) plus a bare PyTango device
   pushing events from a thread (push timestamp -> client callback), at the same rate;
2. ``read_attribute`` round trip on a BeaconChannels attribute vs the bare device's;
3. a device with ``--channels`` channels held by a BLISS process: time from starting the
   server to every attribute readable with BLISS's value, and the server's RSS then; and its
   floor: a bare device making as many attributes (start -> the last readable) plus a
   library-only client getting the values from the same holder, and the bare device's RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import tango

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from common import Server, bare_device, beacon_channels, percentile  # noqa: E402
from report import Report, add_json_option, line  # noqa: E402

from support.peers import bliss_venv  # noqa: E402
from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402

# --------------------------------------------------------------- BLISS processes
BLISS_SETTER = r"""
import sys, time, gevent, redis
from bliss.config.channels import Channel
url, name, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
channel = Channel(name, value=0.0, redis=redis.Redis.from_url(url))
from gevent.fileobject import FileObjectPosix
stdin = FileObjectPosix(sys.stdin.fileno(), "rb")  # waiting on it lets BLISS answer queries
gevent.sleep(0.5)
print("READY", flush=True)
while line := stdin.readline().strip():  # "go N": N values, then DONE
    start = time.perf_counter()
    for i in range(int(line.split()[1])):
        channel.value = time.time()  # BLISS stamps the value with the same clock
        gevent.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
    gevent.sleep(0.5)
    print("DONE", flush=True)
"""
BLISS_RECEIVER = r"""
import json, sys, time, gevent, redis
from bliss.config.channels import Channel
url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
latencies = []
def on_value(value):
    latencies.append(time.time() - value)
channel = Channel(name, redis=redis.Redis.from_url(url), callback=on_value)
channel.value
gevent.sleep(0.2)
latencies.clear()
print("READY", flush=True)
deadline = time.time() + count / 50 + 60
while len(latencies) < count and time.time() < deadline:
    gevent.sleep(0.05)
print(json.dumps(latencies), flush=True)
"""
BLISS_HOLDER = r"""
import sys, gevent, redis
from bliss.config.channels import Channel
url, count = sys.argv[1], int(sys.argv[2])
client = redis.Redis.from_url(url)
held = [Channel(f"bench.many.{i:05d}", value=float(i), redis=client) for i in range(count)]
gevent.sleep(1.0)
print("READY", flush=True)
from gevent.fileobject import FileObjectPosix
FileObjectPosix(sys.stdin.fileno(), "rb").readline()  # answering queries meanwhile
"""
LIBRARY_CLIENT = r"""
import sys, time
from tango_channels import Bus, Channel
started = time.perf_counter()
url, count = sys.argv[1], int(sys.argv[2])
bus = Bus(url)
channels = [Channel(f"bench.many.{i:05d}", bus=bus) for i in range(count)]
values = [channel.value for channel in channels]
assert values[-1] == float(count - 1), values[-1]
print(time.perf_counter() - started, flush=True)
"""


def bliss(script: str, *args: object) -> subprocess.Popen[str]:
    """A BLISS 2.4 process running ``script``, once it printed READY."""
    process = subprocess.Popen(
        [str(bliss_venv()), "-c", script, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "READY"
    return process


def go(process: subprocess.Popen[str], count: int) -> None:
    """Have a BLISS setter set ``count`` values, and wait until it has."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"go {count}\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "DONE"


# --------------------------------------------------------------- client processes
CLIENT = r"""
import json, sys, time, tango
access, attribute, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
latencies = []
def on_event(event):
    if not event.err and event.attr_value is not None:
        latencies.append(time.time() - event.attr_value.time.totime())
proxy = tango.DeviceProxy(access)
proxy.subscribe_event(attribute, tango.EventType.CHANGE_EVENT, on_event)
print("READY", flush=True)
deadline = time.time() + count / 50 + 60
while len(latencies) < count + 1 and time.time() < deadline:
    time.sleep(0.05)
print(json.dumps(latencies[1:]), flush=True)   # the first is the subscription's own read
"""


def event_client(access: str, attribute: str, count: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT, access, attribute, str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "READY"
    return process


def result(process: subprocess.Popen[str]) -> list[float]:
    out, _ = process.communicate(timeout=300)
    return json.loads(out.strip().splitlines()[-1])


def bliss_hop(url: str, rate: float, count: int) -> list[float]:
    """BLISS -> BLISS: set in one BLISS process -> callback in another."""
    setter = bliss(BLISS_SETTER, url, "bench.hop", rate, count)
    receiver = subprocess.Popen(
        [str(bliss_venv()), "-c", BLISS_RECEIVER, url, "bench.hop", str(count)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "READY"
        go(setter, count)
        return result(receiver)
    finally:
        setter.kill()
        receiver.kill()


def reads_in_turn(
    first: tuple[tango.DeviceProxy, str], second: tuple[tango.DeviceProxy, str], count: int
) -> tuple[list[float], list[float]]:
    """``count`` read_attribute round trips of each, one of each in turn: this machine's
    loopback round trip drifts between two levels (0.07 and 0.2 ms, for seconds at a time),
    which rounds of hundreds of reads each would credit to one device or the other."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(200 + count):  # the first 200 of each warm up
        for (proxy, attribute), kept in zip((first, second), times, strict=True):
            started = time.perf_counter()
            proxy.read_attribute(attribute)
            if i >= 200:
                kept.append(time.perf_counter() - started)
    return times


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def show(label: str, values: list[float]) -> tuple[float, float]:
    median, p99 = statistics.median(values), percentile(values, 0.99)
    print(f"   {label:44s} n={len(values):5d}  median {median * 1e3:6.3f}  p99 {p99 * 1e3:6.3f}")
    return median, p99


# The percentiles the latency plot draws: each value's share, up to p99.9 (the largest few are
# one process's hiccup, and would squash the rest of the plot).
CURVE = [*range(1, 100), 99.5, 99.9]


def record_latency_curves(
    report: Report, section: str, hops: list[float], pushes: list[float], ends: list[float]
) -> None:
    """The latency distributions as percentile curves, for the docs' plot: the device's, and
    its floor's as the figures make it (the sum of its two parts' percentiles)."""

    def curve(values: list[float]) -> list[float]:
        return [percentile(values, p / 100) * 1e3 for p in CURVE]

    hop, push, end = curve(hops), curve(pushes), curve(ends)
    floor = [h + b for h, b in zip(hop, push, strict=True)]
    report.series(
        "latency",
        section,
        x=("latency", "ms"),
        y=("values at or under", "%"),
        lines=[
            line("BeaconChannels", list(zip(end, CURVE, strict=True))),
            line("floor: BLISS hop + bare device", list(zip(floor, CURVE, strict=True)), "floor"),
            line("BLISS -> BLISS hop", list(zip(hop, CURVE, strict=True)), "part"),
            line("bare device push -> client", list(zip(push, CURVE, strict=True)), "part"),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds of floor and device measured in turn"
    )
    parser.add_argument(
        "--sections", default="1,2,3", help="the sections to run (1: latency, 2: reads, 3: many)"
    )
    add_json_option(parser, "device_bench")
    options = parser.parse_args()
    sections = {int(n) for n in options.sections.split(",")}
    report = Report("device_bench")
    redis = LocalRedis()
    servers: list[Server] = []
    processes: list[subprocess.Popen[str]] = []
    try:
        print(f"Redis {redis.url}; {os.cpu_count()} cores; results in ms")
        if sections & {1, 2}:
            # ---------------------------------------------------------------- 1. latency
            name = "bench.e2e.position"
            setter = bliss(BLISS_SETTER, redis.url, name, options.rate, options.count)
            processes.append(setter)
            device = beacon_channels({"RedisUrl": [redis.url], "Channels": [f"{name} type=float"]})
            servers.append(device)
            bare = bare_device(1)  # a00000: a dynamic attribute read as ours (value, time, quality)
            servers.append(bare)
            attribute = device.proxy.AttributeName(name)

            section = (
                f"BLISS set -> Tango change event, {options.count} values at {options.rate:g} Hz"
            )
            print(f"\n1. {section}, in {options.rounds} rounds of the floor and the device in turn")
            per_round = options.count // options.rounds
            hops: list[float] = []
            pushes: list[float] = []
            ends: list[float] = []
            for _ in range(options.rounds):  # in turn: the machine's drift weighs on all three
                hops += bliss_hop(redis.url, options.rate, per_round)
                client = event_client(bare.access, "value", per_round)
                bare.proxy.Start(options.rate)
                pushes += result(client)
                bare.proxy.Stop()
                client = event_client(device.access, attribute, per_round)
                go(setter, per_round)
                ends += result(client)
            hop = show("floor: BLISS -> BLISS hop (set -> callback)", hops)
            push = show("floor: bare device push -> client event", pushes)
            e2e = show("BeaconChannels: BLISS set -> client event", ends)
            floor = (hop[0] + push[0], hop[1] + push[1])
            print(
                f"   {'floor (sum)':44s}          median {floor[0] * 1e3:6.3f}  "
                f"p99 {floor[1] * 1e3:6.3f}"
            )
            print(
                f"   ratio to the floor: median {e2e[0] / floor[0]:.2f}x (target <= 1.0x), "
                f"p99 {e2e[1] / floor[1]:.2f}x (target <= 1.1x)"
            )
            for i, what in enumerate(("median", "p99")):
                report.figure(section, f"floor: BLISS -> BLISS hop, {what}", ms(hop[i]), "ms")
                report.figure(
                    section, f"floor: bare device push -> client, {what}", ms(push[i]), "ms"
                )
                report.figure(
                    section,
                    f"BeaconChannels: BLISS set -> client event, {what}",
                    ms(e2e[i]),
                    "ms",
                    floor=ms(floor[i]),
                )
            record_latency_curves(report, section, hops, pushes, ends)
            for i, (what, target) in enumerate((("median", 1.0), ("p99", 1.1))):
                report.figure(
                    section,
                    f"ratio to the floor, {what}",
                    round(e2e[i] / floor[i], 2),
                    "x",
                    target_max=target,
                )

            # ---------------------------------------------------------------- 2. reads
            section = "read_attribute round trip, 2000 reads"
            print(f"\n2. {section}, one of each in turn")
            bare_reads, our_reads = reads_in_turn(
                (bare.proxy, "a00000"), (device.proxy, attribute), 2000
            )
            bare_read = show("bare device, dynamic attribute", bare_reads)
            ours = show("BeaconChannels attribute", our_reads)
            print(f"   ratio: median {ours[0] / bare_read[0]:.2f}x (target <= 1.05x)")
            report.figure(section, "bare device, dynamic attribute, median", ms(bare_read[0]), "ms")
            report.figure(
                section,
                "BeaconChannels attribute, median",
                ms(ours[0]),
                "ms",
                floor=ms(bare_read[0]),
            )
            report.figure(
                section,
                "ratio to the bare device, median",
                round(ours[0] / bare_read[0], 2),
                "x",
                target_max=1.05,
            )
            for server in servers:
                server.stop()
            servers.clear()

        # ---------------------------------------------------------------- 3. many channels
        count = options.channels if 3 in sections else 0
        if not count:  # --channels 0: sections 1 and 2 only
            report.write(options.json)
            return
        section = f"{count} channels on one device, held by a BLISS process"
        print(f"\n3. {section}")
        holder = bliss(BLISS_HOLDER, redis.url, count)
        processes.append(holder)
        names = [f"bench.many.{i:05d}" for i in range(count)]
        started = time.perf_counter()
        bare_many = bare_device(count)
        bare_ready = _readable(bare_many, f"a{count - 1:05d}", started)
        bare_rss = bare_many.rss_mb()
        bare_many.stop()
        library = subprocess.run(
            [sys.executable, "-c", LIBRARY_CLIENT, redis.url, str(count)],
            capture_output=True,
            text=True,
            check=True,
        )
        library_ready = float(library.stdout.strip())
        floor_ready = bare_ready + library_ready
        started = time.perf_counter()
        many = beacon_channels({"RedisUrl": [redis.url], "Channels": names})
        servers.append(many)
        last_attribute = many.proxy.AttributeName(names[-1])
        ready = _readable(many, last_attribute, started, value=float(count - 1))
        rss = many.rss_mb()
        print(
            f"   floor: bare device making {count} attributes {bare_ready:.2f} s + a library "
            f"client getting the values {library_ready:.2f} s = {floor_ready:.2f} s"
        )
        print(
            f"   BeaconChannels: start -> every attribute readable with BLISS's value "
            f"{ready:.2f} s, {ready / floor_ready:.2f}x the floor (target <= 1.1x)"
        )
        print(
            f"   RSS {rss:.0f} MB, bare device {bare_rss:.0f} MB: {rss / bare_rss:.2f}x "
            "(target <= 1.3x)"
        )
        report.figure(
            section, "floor: bare device making the attributes", round(bare_ready, 2), "s"
        )
        report.figure(
            section, "floor: library client getting the values", round(library_ready, 2), "s"
        )
        report.figure(
            section,
            "BeaconChannels: start -> every attribute readable",
            round(ready, 2),
            "s",
            floor=round(floor_ready, 2),
        )
        report.figure(
            section, "ratio to the floor", round(ready / floor_ready, 2), "x", target_max=1.1
        )
        report.figure(section, "RSS", round(rss), "MB", floor=round(bare_rss))
        report.figure(
            section, "RSS ratio to the bare device", round(rss / bare_rss, 2), "x", target_max=1.3
        )
        report.write(options.json)
    finally:
        for server in servers:
            server.stop()
        for process in processes:
            process.kill()
        redis.stop()
        threading.Event().wait(0.1)


def _readable(server: Server, attribute: str, started: float, value: float | None = None) -> float:
    """Seconds from ``started`` until ``attribute`` of ``server`` reads (``value``)."""
    while True:
        try:
            read = server.proxy.read_attribute(attribute)
            if value is None or read.value == value:
                return time.perf_counter() - started
        except tango.DevFailed:
            pass
        if time.perf_counter() - started > 300:
            raise RuntimeError(f"{attribute} not readable after 300 s")
        time.sleep(0.01)


if __name__ == "__main__":
    main()
