"""What the device benchmarks share: servers with a file database, percentiles."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tango

from tango_channels_deploy.ports import free_port

HERE = Path(__file__).resolve().parent

WORK = Path(tempfile.mkdtemp(prefix="beacon-bench-"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Server:
    """A device server (BeaconChannels, or the bare device) with a file database."""

    def __init__(
        self,
        command: list[str],
        server: str,
        cls: str,
        device: str,
        properties: dict[str, list[str]],
    ) -> None:
        instance = f"b{os.getpid()}x{free_port()}"
        db = WORK / f"{instance}.db"
        db.write_text(f"{server}/{instance}/DEVICE/{cls}: {device}\n")
        if properties:
            tango.Database(str(db)).put_device_property(device, properties)
        self.port = free_port()
        self.access = f"tango://127.0.0.1:{self.port}/{device}#dbase=no"
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [*command, instance, f"-file={db}", "-ORBendPoint", f"giop:tcp:127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=open(WORK / f"{instance}.log", "wb"),  # noqa: SIM115
        )
        self.proxy = self._connect()

    def _connect(self) -> tango.DeviceProxy:
        deadline = time.monotonic() + 120
        while True:
            try:
                proxy = tango.DeviceProxy(self.access)
                proxy.ping()
                proxy.set_timeout_millis(30_000)
                return proxy
            except tango.DevFailed:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def beacon_channels(properties: dict[str, list[str]]) -> Server:
    executable = Path(sys.executable).with_name("BeaconChannels")
    return Server(
        [str(executable)], "BeaconChannels", "BeaconChannels", "bench/beacon/1", properties
    )


def bare_device(attributes: int = 0) -> Server:
    return Server(
        [sys.executable, str(HERE / "bare_device.py")],
        "BareDevice",
        "BareDevice",
        "bench/bare/1",
        {"Attributes": [str(attributes)]} if attributes else {},
    )


def process_figures(pid: int) -> dict[str, float]:
    """RSS (MB), threads, open file descriptors and CPU time (s) of a process."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "cpu_s": (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"),  # utime + stime
    }


# BLISS processes holding channels (a value each, answering queries), while others publish
# them: BLISS's rule is that a value nobody holds is gone, and the device shows it so.
HOLDER_SCRIPT = r"""
import sys
from tango_channels import Bus, Channel
url, names = sys.argv[1], sys.argv[2:]
bus = Bus(url)
held = [Channel(name, value=0.0, bus=bus) for name in names]
while bus.pending_values():
    pass
print("READY", flush=True)
sys.stdin.readline()
"""


def hold(url: str, names: list[str]) -> subprocess.Popen[str]:
    """A process holding ``names`` (kill it to let them go)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, url, *names],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE.parent,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "READY"
    return process


class EventClient:
    """A client process (bench/event_client.py) recording change (or ``alarm``) events of
    attributes."""

    def __init__(self, access: str, attributes: list[str], alarm: bool = False) -> None:
        flags = ["--alarm"] if alarm else []
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "event_client.py"), *flags, access, *attributes],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "READY":
            raise RuntimeError(f"event client did not start: {line!r}")

    def ask(self, what: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(what + "\n")
        self.process.stdin.flush()
        import json

        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def wait_final(client: EventClient, final: float, timeout: float = 60) -> dict[str, float]:
    """The client's last values, once all are ``final`` (or ``timeout`` s have passed)."""
    deadline = time.monotonic() + timeout
    while True:
        last = client.ask("last")
        if all(v == final for v in last.values()) or time.monotonic() > deadline:
            return last
        time.sleep(0.2)
