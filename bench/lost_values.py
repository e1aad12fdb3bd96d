"""Values lost between a BLISS channel and a Tango client, at rates the device keeps up with.

    .venv/bin/python bench/lost_values.py [--runs 10] [--values 2000]

A device exposes the channels; a process holds them and a publisher process sets them at a
steady rate (real BLISS ``_Value`` messages, as in ``flood.py``); a client process counts the
change events. Two
cases: one channel at 200 Hz (``--runs`` runs of ``--values`` values), and 20 channels at
100 Hz (one run of ``--values`` values each). Every value must arrive: lost = sent - received.
Printed, and written to ``bench/results/lost_values.json`` (``--json PATH``; see
``bench/report.py``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import EventClient, beacon_channels, hold, wait_final  # noqa: E402
from flood import FINAL, PUBLISHER  # noqa: E402
from report import Report, add_json_option  # noqa: E402

from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402


def run(url: str, access: str, names: list[str], attributes: list[str], rate: float,
        values: int) -> tuple[int, int]:
    """(sent, received) for one run: ``values`` values on each channel at ``rate`` Hz."""
    client = EventClient(access, attributes)
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, url, str(rate), str(values / rate), str(FINAL), *names],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=HERE.parent,
    )
    try:
        assert publisher.stdout is not None and publisher.stdin is not None
        assert publisher.stdout.readline().strip() == "READY"
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        sent = int(publisher.stdout.readline().split()[0]) + len(names)  # the final values
        wait_final(client, FINAL)
        time.sleep(0.5)
        received = sum(client.ask("report")["counts"].values())
        return sent, received
    finally:
        publisher.kill()
        client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--values", type=int, default=2000)
    add_json_option(parser, "lost_values")
    options = parser.parse_args()
    report = Report("lost_values")
    redis = LocalRedis()
    try:
        for label, count, rate, runs in (
            ("1 channel at 200 Hz", 1, 200.0, options.runs),
            ("20 channels at 100 Hz", 20, 100.0, 1),
        ):
            names = [f"lost.{count}.{i:03d}" for i in range(count)]
            holder = hold(redis.url, names)  # BLISS holds what it publishes
            device = beacon_channels(
                {"RedisUrl": [redis.url], "Channels": [f"{n} type=float" for n in names]}
            )
            try:
                attributes = [device.proxy.AttributeName(n) for n in names]
                results = [
                    run(redis.url, device.access, names, attributes, rate, options.values)
                    for _ in range(runs)
                ]
            finally:
                device.stop()
                holder.kill()
            lost = [sent - received for sent, received in results]
            sent, received = sum(s for s, _ in results), sum(r for _, r in results)
            print(
                f"{label}: {runs} runs of {options.values} values per channel; lost per run "
                f"{lost} (sent {sent}, received {received})"
            )
            section = f"{label}, {runs} runs of {options.values} values per channel"
            report.figure(section, "values sent", sent, "values")
            report.figure(section, "events received", received, "events")
            report.figure(section, "values lost", sum(lost), "values", target_max=0)
        report.write(options.json)
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
