"""Many devices in one server: 100 BeaconAxis devices and 1,000 channels, against the same
devices in a bare PyTango server, in the same run.

    .venv/bin/python bench/many_devices.py [--axes 100] [--channels 1000] [--runs 3]

A holder process holds, as BLISS sessions would, the channels of ``--axes`` axes (each
``axis.<n>.*``, its state an AxisState) and ``--channels`` plain channels. The subject is one
``BeaconChannels`` server running one BeaconChannels device (a ``Channels`` line per plain
channel, typed) and one BeaconAxis device per axis. The floor is one bare PyTango server with
the same devices: a device making as many dynamic DevDouble attributes, and as many motor
devices with a motor's static attributes, each read from memory (``bench/bare_device.py``).

Reported, for each: the time from the server's start until every device answers and shows its
values (the subject's: every motor device's State says its axis is READY, the channels
device shows every channel), its RSS then, its threads, and the subject's Redis connections
(100 axes must not mean 100 connections or threads).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis
import tango

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import WORK, process_figures
from report import Report, add_json_option

from tango_channels_deploy.local_redis import LocalRedis
from tango_channels_deploy.ports import free_port

HERE = Path(__file__).resolve().parent
PROFILE = os.environ.get("BENCH_PROFILE", "").split()  # e.g. "py-spy record -o x.svg --"
SETTINGS = ("position", "dial_position", "_set_position", "offset", "sign", "velocity")
SETTINGS += ("acceleration", "backlash", "steps_per_unit", "low_limit", "high_limit", "state")

HOLDER = r"""
import sys
from tango_channels import Bus, Channel
from tango_channels_device.bridge.axes import axis_state
url, axes, channels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bus = Bus(url)
held = []
for a in range(axes):
    for setting in sys.argv[4:]:
        value = axis_state("READY") if setting == "state" else 1.0 if setting != "sign" else 1
        if setting == "high_limit":
            value = 100.0
        if setting == "low_limit":
            value = -100.0
        held.append(Channel(f"axis.m{a:03d}.{setting}", value=value, bus=bus))
held += [Channel(f"plain.c{c:04d}", value=float(c), bus=bus) for c in range(channels)]
while bus.pending_values():
    pass
print("READY", flush=True)
sys.stdin.readline()
"""


def database(server: str, devices: dict[str, list[str]], properties: dict) -> Path:
    """A Tango file database declaring ``devices`` (class -> names) of ``server``."""
    instance = f"m{os.getpid()}x{free_port()}"
    path = WORK / f"{instance}.db"
    path.write_text(
        "".join(
            f"{server}/{instance}/DEVICE/{cls}: {', '.join(names)}\n"
            for cls, names in devices.items()
        )
    )
    db = tango.Database(str(path))
    for device, values in properties.items():
        db.put_device_property(device, values)
    return path


def start(command: list[str], db: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    instance = db.stem
    started = time.perf_counter()
    process = subprocess.Popen(
        [*PROFILE, *command, instance, f"-file={db}", "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(WORK / f"{instance}.log", "wb"),  # noqa: SIM115
    )
    return process, port, started


def proxy(port: int, device: str) -> tango.DeviceProxy:
    made = tango.DeviceProxy(f"tango://127.0.0.1:{port}/{device}#dbase=no")
    made.set_timeout_millis(30_000)
    return made


def motor_ready(port: int, device: str) -> bool:
    """Exported (devices are, one after the other), ON, its position shown."""
    motor = proxy(port, device)
    return motor.state() == tango.DevState.ON and motor.read_attribute("Position").value == 1.0


def until(check, process: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except tango.DevFailed:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not get ready")
        time.sleep(0.02)


def run_subject(url: str, axes: list[str], channels: int) -> dict[str, float]:
    motors = [f"bench/bliss/{a}" for a in axes]
    lines = [f"plain.c{c:04d} type=float" for c in range(channels)]
    properties = {"bench/beacon/1": {"RedisUrl": [url], "Channels": lines}}
    properties.update({m: {"RedisUrl": [url]} for m in motors})
    db = database(
        "BeaconChannels", {"BeaconChannels": ["bench/beacon/1"], "BeaconAxis": motors}, properties
    )
    process, port, started = start([str(Path(sys.executable).with_name("BeaconChannels"))], db)
    try:
        until(lambda: proxy(port, "bench/beacon/1").ping() >= 0, process)
        channels_device = proxy(port, "bench/beacon/1")
        until(
            lambda: len(channels_device.read_attribute("ChannelNames").value or ()) == channels,
            process,
        )
        for motor in motors:
            until(lambda m=motor: motor_ready(port, m), process)
        ready = time.perf_counter() - started
        figures = process_figures(process.pid)
        client = redis.Redis.from_url(url)
        connections = sum(
            "name=BeaconChannels:" in c
            for c in client.execute_command("CLIENT", "LIST").decode().splitlines()
        )
        client.close()
        return {
            "ready_s": ready,
            "rss_mb": figures["rss_mb"],
            "threads": figures["threads"],
            "connections": connections,
        }
    finally:
        process.terminate()
        process.wait(timeout=60)


def run_floor(axes: list[str], channels: int) -> dict[str, float]:
    motors = [f"bench/bare/{a}" for a in axes]
    db = database(
        "BareDevice",
        {"BareDevice": ["bench/bare/1"], "BareMotor": motors},
        {"bench/bare/1": {"Attributes": [str(channels)]}},
    )
    process, port, started = start([sys.executable, str(HERE / "bare_device.py"), "--motors"], db)
    try:
        until(lambda: proxy(port, "bench/bare/1").ping() >= 0, process)
        bare = proxy(port, "bench/bare/1")
        until(lambda: bare.read_attribute(f"a{channels - 1:05d}").value == 0.0, process)
        for motor in motors:
            until(lambda m=motor: motor_ready(port, m), process)
        ready = time.perf_counter() - started
        figures = process_figures(process.pid)
        return {"ready_s": ready, "rss_mb": figures["rss_mb"], "threads": figures["threads"]}
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--axes", type=int, default=100)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    add_json_option(parser, "many_devices")
    options = parser.parse_args()
    report = Report("many_devices")
    server = LocalRedis()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLDER,
            server.url,
            str(options.axes),
            str(options.channels),
            *SETTINGS,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE.parent,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "READY"
        axes = [f"m{a:03d}" for a in range(options.axes)]
        subject, floor = [], []
        for _ in range(options.runs):  # in turn: each run's pair sees the same machine
            subject.append(run_subject(server.url, axes, options.channels))
            floor.append(run_floor(axes, options.channels))
        section = f"{options.axes} BeaconAxis devices and {options.channels} channels in one server"
        ready = statistics.median(r["ready_s"] for r in subject)
        ready_floor = statistics.median(r["ready_s"] for r in floor)
        rss = statistics.median(r["rss_mb"] for r in subject)
        rss_floor = statistics.median(r["rss_mb"] for r in floor)
        print(f"{section}, {options.runs} runs (medians):")
        ratio = ready / ready_floor
        print(f"  ready after {ready:.2f} s; bare PyTango server {ready_floor:.2f} s: x{ratio:.2f}")
        print(f"  RSS {rss:.0f} MB; bare {rss_floor:.0f} MB: x{rss / rss_floor:.2f}")
        threads, bare_threads = subject[-1]["threads"], floor[-1]["threads"]
        connections = subject[-1]["connections"]
        print(f"  threads {threads:.0f} (bare {bare_threads:.0f}); connections {connections:.0f}")
        report.figure(
            section, "ready after, median", round(ready, 2), "s", floor=round(ready_floor, 2)
        )
        report.figure(section, "RSS, median", round(rss), "MB", floor=round(rss_floor))
        report.figure(section, "threads", subject[-1]["threads"], "", floor=floor[-1]["threads"])
        report.figure(section, "Redis connections", subject[-1]["connections"], "")
        report.write(options.json)
    finally:
        holder.kill()
        server.stop()


if __name__ == "__main__":
    main()
