"""Soak: a realistic beamline rate for a long time, with a Redis restart in the middle.

    .venv/bin/python bench/soak.py [--channels 200] [--rate 10] [--minutes 30] [--sample 60]

A holder process (tango_channels, as a BLISS session) sets ``--channels`` channels at
``--rate`` values/s each; a device exposes them; a client records their events. One more
channel crosses its ``max_alarm`` every ``--alarm-period`` seconds, and an alarm handler (a
client subscribed to Tango 10's alarm events) counts them: cppTango 10's alarm subscriptions
are reported to stop after 5 to 10 minutes (cppTango issue 1605). Halfway,
Redis is killed and restarted on the same port. At the end every channel gets a final value
that the client must see last. Prints the device's RSS, threads and open files over time, the
outage as the device showed it, the events delivered, and the final values lost, and writes
them to ``bench/results/soak.json`` (``--json PATH``; see ``bench/report.py``).
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import tango

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import (  # noqa: E402
    EventClient,
    Server,
    beacon_channels,
    process_figures,
    wait_final,
)
from report import Report, add_json_option, line  # noqa: E402

from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402

FINAL = -1.0

HOLDER = r"""
import select, sys, time
from tango_channels import Bus, Channel
url, rate, final = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
bus = Bus(url)
alarm_period = float(sys.argv[4])
alarm = Channel("soak.alarm", value=0.0, bus=bus)
channels = [Channel(name, value=0.0, bus=bus) for name in sys.argv[5:]]
print("READY", flush=True)
step, started, count = 1.0 / rate, time.monotonic(), 0
while not select.select([sys.stdin], [], [], 0)[0]:
    count += 1
    for channel in channels:
        channel.value = float(count)
    alarm.value = float(int((time.monotonic() - started) / alarm_period) % 2)  # 0, 1, 0...
    time.sleep(max(0.0, started + count * step - time.monotonic()))
sys.stdin.readline()
for channel in channels:
    channel.value = final
print(count * len(channels), flush=True)
time.sleep(5)  # hold the final values while they are read
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    parser.add_argument(
        "--alarm-period", type=float, default=10.0, help="seconds between two alarm crossings"
    )
    add_json_option(parser, "soak")
    options = parser.parse_args()
    names = [f"soak.{i:03d}" for i in range(options.channels)]
    with ExitStack() as cleanup:  # whatever was started is stopped, however this ends
        redis = LocalRedis()
        cleanup.callback(redis.stop)
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOLDER,
                redis.url,
                str(options.rate),
                str(FINAL),
                str(options.alarm_period),
                *names,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE.parent,
        )
        cleanup.callback(stop, holder)
        assert holder.stdin is not None and holder.stdout is not None
        if (line := holder.stdout.readline().strip()) != "READY":
            raise RuntimeError(f"holder did not start: {line!r}")
        lines = [f"{n} type=float" for n in names] + ["soak.alarm type=float max_alarm=0.5"]
        device = beacon_channels({"RedisUrl": [redis.url], "Channels": lines})
        cleanup.callback(device.stop)
        client = EventClient(device.access, [device.proxy.AttributeName(n) for n in names])
        cleanup.callback(client.stop)
        handler = EventClient(device.access, ["soak_alarm"], alarm=True)
        cleanup.callback(handler.stop)
        report = Report("soak")
        run(options, redis, holder, device, client, handler, report)
        report.write(options.json)


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=30)


def run(
    options: argparse.Namespace,
    redis: LocalRedis,
    holder: subprocess.Popen,
    device: Server,
    client: EventClient,
    handler: EventClient,
    report: Report,
) -> None:
    duration = options.minutes * 60
    started = time.monotonic()
    restarted = False
    samples = []
    section = (
        f"{options.channels} channels x {options.rate:g} Hz for {options.minutes:g} min; "
        "Redis killed and restarted halfway"
    )
    print(section)
    print(
        f"   {'minute':>6s} {'RSS MB':>7s} {'threads':>7s} {'fds':>5s} {'events':>9s} "
        f"{'alarm events':>12s}"
    )
    alarms_seen: list[tuple[float, int]] = []
    outage_at = None
    next_sample = started
    while (elapsed := time.monotonic() - started) < duration:
        if not restarted and elapsed > duration / 2:
            restarted = True
            outage_at = elapsed
            outage = restart(redis, device.proxy)
            print(
                f"   Redis killed at minute {elapsed / 60:.1f}: device FAULT after "
                f"{outage['fault']:.2f} s ({outage['status']!r}); Redis back after 2 s, "
                f"device out of FAULT {outage['on']:.2f} s later"
            )
            report.figure(
                section, "Redis killed: device FAULT after", round(outage["fault"], 2), "s"
            )
            report.figure(
                section, "Redis back: device out of FAULT after", round(outage["on"], 2), "s"
            )
        if time.monotonic() >= next_sample:
            figures = process_figures(device.process.pid)
            events = sum(client.ask("report")["counts"].values())
            alarms = sum(handler.ask("report")["counts"].values())
            samples.append((elapsed, figures, events))
            alarms_seen.append((elapsed, alarms))
            print(
                f"   {elapsed / 60:6.1f} {figures['rss_mb']:7.1f} {figures['threads']:7d} "
                f"{figures['fds']:5d} {events:9d} {alarms:12d}",
                flush=True,
            )
            next_sample += options.sample
        time.sleep(0.5)
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("final\n")
    holder.stdin.flush()
    sent = int(holder.stdout.readline())
    last = wait_final(client, FINAL)
    lost = sum(v != FINAL for v in last.values())
    events = client.ask("report")
    first, end = samples[min(1, len(samples) - 1)][1], process_figures(device.process.pid)
    delivered = sum(events["counts"].values())
    received, coalesced = device.proxy.ValuesReceived, device.proxy.ValuesCoalesced
    print(
        f"   sent {sent} values, {delivered} events delivered; "
        f"final values lost: {lost} of {len(last)}"
    )
    print(
        f"   device: {received} values received from Redis (the rest were set while Redis was "
        f"down: only each channel's latest goes out after), {coalesced} coalesced"
    )
    minute = f"{samples[min(1, len(samples) - 1)][0] / 60:.0f}"
    print(
        f"   device from minute {minute} to the "
        f"end: RSS {first['rss_mb']:.1f} -> {end['rss_mb']:.1f} MB, threads "
        f"{first['threads']} -> {end['threads']}, fds {first['fds']} -> {end['fds']}"
    )
    crossings = int(duration / options.alarm_period)
    late = [n for t, n in alarms_seen if t >= 600]  # after 10 minutes
    still = len(late) >= 2 and late[-1] > late[0]
    print(
        f"   alarm handler: {alarms_seen[-1][1] if alarms_seen else 0} alarm events for about "
        f"{crossings} crossings; still coming after minute 10: {'yes' if still else 'no'}"
    )
    report.figure(section, "alarm events received", alarms_seen[-1][1] if alarms_seen else 0,
                  f"for about {crossings} crossings")
    report.figure(section, "alarm events still coming after minute 10",
                  "yes" if still else "no (or the run was shorter)")
    report.figure(section, "values sent", sent, "values")
    report.figure(section, "events delivered", delivered, "events")
    report.figure(section, "values received by the device", received, "values")
    report.figure(section, "values coalesced by the device", coalesced, "values")
    report.figure(section, "final values lost", lost, f"of {len(last)}", target_max=0)
    record_series(report, section, options, samples, alarms_seen, outage_at)
    for key, label, unit, digits in (
        ("rss_mb", "device RSS", "MB", 1),
        ("threads", "device threads", "", 0),
        ("fds", "device open files", "", 0),
    ):
        report.figure(
            section,
            f"{label}, minute {minute} -> end",
            f"{first[key]:.{digits}f} -> {end[key]:.{digits}f}",
            unit,
        )


def record_series(
    report: Report,
    section: str,
    options: argparse.Namespace,
    samples: list[tuple[float, dict, int]],
    alarms_seen: list[tuple[float, int]],
    outage_at: float | None,
) -> None:
    """The soak over time, for the docs' plots: the device's memory, the events delivered and
    the alarm events received per minute, each sample against the one before."""
    marks = [(outage_at / 60, "Redis killed and restarted")] if outage_at is not None else []
    minutes = ("time", "min")
    report.series(
        "memory",
        section,
        x=minutes,
        y=("device RSS", "MB"),
        lines=[line("device RSS", [(t / 60, f["rss_mb"]) for t, f, _ in samples])],
        marks=marks,
    )

    def per_minute(seen: list[tuple[float, int]]) -> list[tuple[float, float]]:
        return [
            (t / 60, (n - n0) * 60 / (t - t0))
            for (t0, n0), (t, n) in itertools.pairwise(seen)
            if t > t0
        ]

    end = samples[-1][0] / 60 if samples else 0
    asked = options.channels * options.rate * 60
    report.series(
        "events",
        section,
        x=minutes,
        y=("events delivered", "events/min"),
        lines=[
            line("delivered to the client", per_minute([(t, n) for t, _, n in samples])),
            line("set by the holder", [(0, asked), (end, asked)], "reference"),
        ],
        marks=marks,
    )
    crossings = 60 / options.alarm_period
    report.series(
        "alarms",
        section,
        x=minutes,
        y=("alarm events received", "events/min"),
        lines=[
            line("received by the alarm handler", per_minute(alarms_seen)),
            line("max_alarm crossings", [(0, crossings), (end, crossings)], "reference"),
        ],
        marks=marks,
    )


def restart(redis: LocalRedis, proxy: tango.DeviceProxy) -> dict:
    killed = time.monotonic()
    redis.kill()
    fault = None
    while time.monotonic() - killed < 2:
        if fault is None and proxy.state() == tango.DevState.FAULT:
            fault = time.monotonic() - killed
            status = proxy.status().splitlines()[0]
        time.sleep(0.05)
    redis.start()
    back = time.monotonic()
    # Back when no longer FAULT: ON, or ALARM while the alarm channel is above its max_alarm.
    while proxy.state() == tango.DevState.FAULT and time.monotonic() - back < 60:
        time.sleep(0.05)
    return {
        "fault": fault if fault is not None else float("nan"),
        "status": status if fault is not None else "",
        "on": time.monotonic() - back,
    }


if __name__ == "__main__":
    main()
