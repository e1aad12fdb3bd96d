"""Flood: many channels set as fast as asked, through the device, to a Tango client.

    .venv/bin/python bench/flood.py [--channels 20] [--rate 1000] [--seconds 60] [--publishers 2]

``--publishers`` processes share the channels and set each at ``--rate`` values/s for
``--seconds``; another process holds them (as BLISS processes hold what they publish: a value
nobody holds is gone, and the device says so); a device exposes them; a client process records
their change events. At the
end every channel is set to a final value, and the client must see that value last on every
channel (when a client can't keep up, intermediate values are dropped, never the latest).
Prints the values/s sent and delivered, event latency p50/p99 and what was dropped, and
writes them to ``bench/results/flood.json`` (``--json PATH``; see ``bench/report.py``).

The floor, in the same run: a bare PyTango device (``bench/bare_device.py``) pushing as many
attributes at the same offered rate, from as many threads as there are publishers, to the
same client, while the publishers flood Redis again (the machine as loaded as for the
device, but for the device's own work): what the client can take from any device pushing
that flood.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import (  # noqa: E402
    EventClient,
    bare_device,
    beacon_channels,
    hold,
    percentile,
    process_figures,
    wait_final,
)
from report import Report, add_json_option, line  # noqa: E402

from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402

FINAL = -1.0

# A flood source: real BLISS _Value messages, PUBLISHed in one pipeline per round.
PUBLISHER = r"""
import os, sys, time
import redis
from tango_channels import encode_value
url, rate, seconds, final = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
names, sender = sys.argv[5:], str(os.getpid())
client = redis.Redis.from_url(url)
print("READY", flush=True)
sys.stdin.readline()
def publish_all(value):
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.publish(name, encode_value(sender, time.time(), value).wire)
    pipe.execute()
sent, started, step = 0, time.monotonic(), 1.0 / rate
while time.monotonic() - started < seconds:
    sent += 1  # one new value on every channel; no pause when behind the asked rate
    publish_all(float(sent))
    time.sleep(max(0.0, started + sent * step - time.monotonic()))
elapsed = time.monotonic() - started
publish_all(final)
print(f"{sent * len(names)} {elapsed}", flush=True)
"""


def record_timeline(
    report: Report,
    section: str,
    timeline: dict[str, list[float]],
    started: float,
    sent_rate: float,
) -> None:
    """The flood over time, for the docs' plots: events the client received each second,
    against the mean rate sent, and the largest latency of each second."""
    seconds = sorted(
        (int(second) - int(started), count, worst) for second, (count, worst) in timeline.items()
    )
    last = seconds[-1][0] if seconds else 0
    report.series(
        "delivered",
        section,
        x=("time since the flood started", "s"),
        y=("events delivered", "events/s"),
        lines=[
            line("delivered to the client", [(t, count) for t, count, _ in seconds]),
            line("sent (mean)", [(0, sent_rate), (last, sent_rate)], "reference"),
        ],
    )
    report.series(
        "latency",
        section,
        x=("time since the flood started", "s"),
        y=("largest latency in the second", "ms"),
        lines=[line("set -> client callback", [(t, worst * 1e3) for t, _, worst in seconds])],
    )


def publishers_command(
    options: argparse.Namespace, url: str, names: list[str]
) -> list[list[str]]:
    """The command lines of the flood's publisher processes."""
    return [
        [
            sys.executable,
            "-c",
            PUBLISHER,
            url,
            str(options.rate),
            str(options.seconds),
            str(FINAL),
            *names[k :: options.publishers],
        ]
        for k in range(options.publishers)
    ]


def start_publishers(commands: list[list[str]]) -> list[subprocess.Popen[str]]:
    started = []
    for command in commands:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE.parent
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "READY"
        started.append(process)
    return started


def run_floor(options: argparse.Namespace, commands: list[list[str]]) -> float:
    """Events/s a bare device flooding as many attributes delivers to the same client, the
    publishers flooding Redis meanwhile (see the module docstring)."""
    bare = bare_device(options.channels)
    attributes = [f"a{i:05d}" for i in range(options.channels)]
    client = EventClient(bare.access, attributes)
    publishers = start_publishers(commands)
    try:
        for process in publishers:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        bare.proxy.Flood([options.rate, options.seconds, FINAL, options.publishers])
        wait_final(client, FINAL, timeout=options.seconds + 60)
        time.sleep(1)
        delivered = sum(client.ask("report")["counts"].values())
        return delivered / options.seconds  # over the flood, as the device's
    finally:
        client.stop()
        for process in publishers:
            process.kill()
        bare.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--publishers", type=int, default=2)
    add_json_option(parser, "flood")
    options = parser.parse_args()
    report = Report("flood")
    names = [f"flood.{i:03d}" for i in range(options.channels)]
    redis = LocalRedis()
    device = client = None
    publishers: list[subprocess.Popen[str]] = []
    holder = hold(redis.url, names)
    try:
        publishers = start_publishers(publishers_command(options, redis.url, names))
        device = beacon_channels(
            {"RedisUrl": [redis.url], "Channels": [f"{n} type=float" for n in names]}
        )
        attributes = [device.proxy.AttributeName(n) for n in names]
        client = EventClient(device.access, attributes)
        cpu_before = process_figures(device.process.pid)["cpu_s"]
        flood_started = time.time()
        for process in publishers:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        sent, elapsed = 0, 0.0
        for process in publishers:
            assert process.stdout is not None
            count, seconds = process.stdout.readline().split()
            sent += int(count)
            elapsed = max(elapsed, float(seconds))
        wait_final(client, FINAL)
        time.sleep(1)  # anything after the final value would show now
        last = client.ask("last")
        events = client.ask("report")
        figures = process_figures(device.process.pid)
        delivered = sum(events["counts"].values())
        latencies = events["latencies"]
        section = (
            f"{options.channels} channels x {options.rate:g} values/s asked, "
            f"{options.publishers} publisher processes, {elapsed:.0f} s"
        )
        print(f"{section}; 2 cores shared by Redis, publishers, the device and the client")
        print(f"   sent        {sent:9d} values  {sent / elapsed:9.0f} values/s")
        share = 100 * delivered / max(sent, 1)
        print(
            f"   delivered   {delivered:9d} events  {delivered / elapsed:9.0f} events/s "
            f"({share:.1f} %; the rest coalesced: latest kept)"
        )
        p50, p99 = statistics.median(latencies) * 1e3, percentile(latencies, 0.99) * 1e3
        print(f"   latency     p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        good = sum(last[a] == FINAL for a in attributes)
        cpu = figures["cpu_s"] - cpu_before
        state = device.proxy.state()
        pushed = device.proxy.EventsPushed
        coalesced = device.proxy.ValuesCoalesced
        print(
            f"   device      {pushed:9d} events pushed, {coalesced} values coalesced "
            f"(pushed and not delivered: {pushed - delivered}, lost between the device and "
            "the client)"
        )
        print(
            f"   final value delivered last on {good}/{len(attributes)} channels; "
            f"{events['errors']} error events {events['reasons'][:2]}; "
            f"device {state}, "
            f"RSS {figures['rss_mb']:.0f} MB, {figures['threads']} threads, "
            f"CPU {cpu:.1f} s during the flood"
        )
        report.figure(section, "values sent", round(sent / elapsed), "values/s")
        report.figure(section, "events delivered", round(delivered / elapsed), "events/s")
        report.figure(section, "share delivered (the rest coalesced)", round(share, 1), "%")
        report.figure(section, "event latency, set -> client callback, p50", round(p50, 2), "ms")
        report.figure(section, "event latency, set -> client callback, p99", round(p99, 2), "ms")
        report.figure(
            section, "channels whose final value was delivered last", good, f"of {len(attributes)}"
        )
        report.figure(section, "error events", events["errors"], "", target_max=0)
        report.figure(
            section, "events pushed and not delivered (lost after the device)",
            pushed - delivered, "", target_max=0,
        )
        report.figure(section, "device CPU during the flood", round(cpu, 1), "s")
        report.figure(section, "device state after the flood", str(state))
        report.figure(section, "device RSS after the flood", round(figures["rss_mb"]), "MB")
        report.figure(section, "device threads after the flood", figures["threads"])
        record_timeline(report, section, client.ask("timeline"), flood_started, sent / elapsed)
        client.stop()
        client = None
        device.stop()
        device = None
        floor = run_floor(options, publishers_command(options, redis.url, names))
        print(
            f"   floor: a bare device pushing {options.channels} attributes at the same rate "
            f"delivered {floor:.0f} events/s to the same client: the device x"
            f"{delivered / elapsed / floor:.2f}"
        )
        report.figure(
            section, "events delivered, against a bare device's", round(delivered / elapsed),
            "events/s", floor=round(floor), target_min=round(0.8 * floor),
        )
        report.write(options.json)
    finally:
        if client is not None:
            client.stop()
        for process in (*publishers, holder):
            process.kill()
        if device is not None:
            device.stop()
        redis.stop()


if __name__ == "__main__":
    main()
