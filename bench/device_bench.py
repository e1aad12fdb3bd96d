"""Speed of the BeaconChannels device, measured against its floor in the same run.

    .venv/bin/python bench/device_bench.py [--rate HZ] [--count N] [--channels N]

Starts its own redis-server, device servers (file databases, loopback) and client processes,
then prints, and writes to ``bench/results/device_bench.json`` (``--json PATH``; see
``bench/report.py``):

1. end-to-end latency, a process sets a channel -> a Tango client's change-event callback
   (event time - the channel value's source timestamp), median and p99; and its floor: the
   raw channel hop (set -> callback between two processes) plus a bare PyTango device pushing
   events from a thread (push timestamp -> client callback), at the same rate;
2. ``read_attribute`` round trip on a BeaconChannels attribute vs the bare device's;
3. a device with ``--channels`` channels held by another process: time from starting the
   server to every attribute readable, and the server's RSS then.
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
sys.path.insert(0, str(HERE.parent))
from common import Server, bare_device, beacon_channels, percentile  # noqa: E402
from report import Report, add_json_option  # noqa: E402

from tango_channels import Bus, Channel  # noqa: E402
from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402

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


def channel_hop(url: str, rate: float, count: int) -> list[float]:
    """Raw channel hop: set here -> callback in another process (bench/channel_bench.py)."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "channel_bench.py"),
            "--role",
            "channel",
            "--redis",
            url,
            "--name",
            "bench.hop",
            "--count",
            str(count),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "READY"
    bus = Bus(url)
    channel = Channel("bench.hop", default_value=0.0, bus=bus)
    channel.value  # noqa: B018
    paced(rate, count, lambda i: setattr(channel, "value", float(i)))
    out, _ = process.communicate(timeout=300)
    bus.close()
    return json.loads(out.strip().splitlines()[-1])["latencies"]


def paced(rate: float, count: int, action) -> None:
    period, next_at = 1.0 / rate, time.perf_counter()
    for i in range(count):
        next_at += period
        time.sleep(max(0.0, next_at - time.perf_counter()))
        action(i)


def read_round_trip(proxy: tango.DeviceProxy, attribute: str, count: int) -> list[float]:
    for _ in range(200):
        proxy.read_attribute(attribute)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        proxy.read_attribute(attribute)
        times.append(time.perf_counter() - started)
    return times


def ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def show(label: str, values: list[float]) -> tuple[float, float]:
    median, p99 = statistics.median(values), percentile(values, 0.99)
    print(f"   {label:44s} n={len(values):5d}  median {median * 1e3:6.3f}  p99 {p99 * 1e3:6.3f}")
    return median, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=10_000)
    add_json_option(parser, "device_bench")
    options = parser.parse_args()
    report = Report("device_bench")
    redis = LocalRedis()
    bus = Bus(redis.url)
    servers: list[Server] = []
    try:
        print(f"Redis {redis.url}; {os.cpu_count()} cores; results in ms")
        # ---------------------------------------------------------------- 1. latency
        position = Channel("bench.e2e.position", value=0.0, bus=bus)
        device = beacon_channels({"RedisUrl": [redis.url], "Channels": ["bench.e2e.position"]})
        servers.append(device)
        bare = bare_device()
        servers.append(bare)
        attribute = device.proxy.AttributeName("bench.e2e.position")

        section = f"set -> Tango change event, {options.count} values at {options.rate:g} Hz"
        print(f"\n1. {section}")
        hop = show(
            "floor: raw channel hop (set -> callback)",
            channel_hop(redis.url, options.rate, options.count),
        )
        client = event_client(bare.access, "value", options.count)
        bare.proxy.Start(options.rate)
        push = show("floor: bare device push -> client event", result(client))
        bare.proxy.Stop()
        client = event_client(device.access, attribute, options.count)
        paced(options.rate, options.count, lambda i: setattr(position, "value", float(i + 1)))
        e2e = show("BeaconChannels: set -> client event", result(client))
        floor = (hop[0] + push[0], hop[1] + push[1])
        print(
            f"   {'floor (sum)':44s}          median {floor[0] * 1e3:6.3f}  "
            f"p99 {floor[1] * 1e3:6.3f}"
        )
        print(
            f"   ratio to the floor: median {e2e[0] / floor[0]:.2f}x, "
            f"p99 {e2e[1] / floor[1]:.2f}x (target <= 1.1x)"
        )
        for i, what in enumerate(("median", "p99")):
            report.figure(section, f"floor: raw channel hop, {what}", ms(hop[i]), "ms")
            report.figure(section, f"floor: bare device push -> client, {what}", ms(push[i]), "ms")
            report.figure(
                section,
                f"BeaconChannels: set -> client event, {what}",
                ms(e2e[i]),
                "ms",
                floor=ms(floor[i]),
            )
        for i, what in enumerate(("median", "p99")):
            report.figure(
                section,
                f"ratio to the floor, {what}",
                round(e2e[i] / floor[i], 2),
                "x",
                target_max=1.1,
            )

        # ---------------------------------------------------------------- 2. reads
        section = "read_attribute round trip, 2000 reads"
        print(f"\n2. {section}")
        bare_read = show("bare thread-mode device", read_round_trip(bare.proxy, "value", 2000))
        ours = show("BeaconChannels attribute", read_round_trip(device.proxy, attribute, 2000))
        print(f"   ratio: median {ours[0] / bare_read[0]:.2f}x (target <= 1.2x)")
        report.figure(section, "bare thread-mode device, median", ms(bare_read[0]), "ms")
        report.figure(
            section, "BeaconChannels attribute, median", ms(ours[0]), "ms", floor=ms(bare_read[0])
        )
        report.figure(
            section,
            "ratio to the bare device, median",
            round(ours[0] / bare_read[0], 2),
            "x",
            target_max=1.2,
        )

        # ---------------------------------------------------------------- 3. many channels
        section = f"{options.channels} channels on one device (held by another process)"
        print(f"\n3. {section}")
        names = [f"bench.many.{i:05d}" for i in range(options.channels)]
        # Held here until the bench ends (a channel nobody references is closed).
        held = [Channel(n, value=float(i), bus=bus) for i, n in enumerate(names)]
        while bus.pending_values() or not held:
            time.sleep(0.05)
        many = beacon_channels({"RedisUrl": [redis.url], "Channels": names})
        servers.append(many)
        exported = time.perf_counter() - many.started
        at_export = len(many.proxy.ChannelNames)
        # ChannelNames lists the channels shown: wait for all of them, then read the last.
        while (listed := len(many.proxy.ChannelNames)) < len(names):
            if time.perf_counter() - many.started > 120:
                break
            time.sleep(0.05)
        ready = time.perf_counter() - many.started
        last = many.proxy.read_attribute(many.proxy.AttributeName(names[-1])).value
        rss = many.rss_mb()
        print(
            f"   server start -> exported (Init done) {exported:.2f} s with {at_export} shown; "
            f"-> {listed} attributes readable: {ready:.2f} s (target < 5 s); "
            f"RSS {rss:.0f} MB (target < 300 MB); last value {last}"
        )
        report.figure(section, "server start -> exported (Init done)", round(exported, 2), "s")
        report.figure(
            section,
            f"server start -> {listed} attributes readable",
            round(ready, 2),
            "s",
            target_max=5,
        )
        report.figure(section, "server RSS then", round(rss), "MB", target_max=300)
        report.write(options.json)
    finally:
        for server in servers:
            server.stop()
        bus.close()
        redis.stop()
        threading.Event().wait(0.1)


if __name__ == "__main__":
    main()
