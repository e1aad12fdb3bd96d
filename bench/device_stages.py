"""Where a value's time goes, BLISS set -> Tango client: each stage of each value, stamped.

    .venv/bin/python bench/device_stages.py [--rate 200] [--count 1000]

A BLISS 2.4 process sets a channel ``--count`` times at ``--rate`` Hz (its value is the
``time.time()`` it is set at: the source timestamp); the device server runs with its stages
stamped (``bench/stages_server.py``: the product code unchanged), and a client subscribes to
the attribute's change events. For each value, the times it reached:

- the device's reader (the batch it came in: BLISS -> Redis -> the reader's socket);
- its feed, decoded (the protocol took it);
- the publisher (the hand-off: queued, then taken in a turn);
- ``push_change_event``, before and after (the push: cppTango, the device monitor);
- the client's callback (ZMQ, the client library, its callback thread).

Reported: the median and p99 of each stage, and of the whole. One clock (``time.time()``)
on one machine, for every process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from common import WORK, EventClient, Server, percentile  # noqa: E402
from device_bench import BLISS_SETTER, bliss, go  # noqa: E402
from report import Report, add_json_option  # noqa: E402

from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402

STAGES = [
    ("BLISS set -> reader (Redis)", "set", "reader"),
    ("reader -> decoded (protocol, decode)", "reader", "decoded"),
    ("decoded -> publisher (hand-off)", "decoded", "taken"),
    ("publisher -> push (sample, criteria)", "taken", "push"),
    ("push_change_event", "push", "pushed"),
    ("pushed -> client callback (ZMQ, client)", "pushed", "client"),
    ("whole: BLISS set -> client callback", "set", "client"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=1000)
    add_json_option(parser, "device_stages")
    options = parser.parse_args()
    report = Report("device_stages")
    redis_server = LocalRedis()
    name = "bench.stages"
    out = WORK / "stages.json"
    setter = bliss(BLISS_SETTER, redis_server.url, name, options.rate, options.count)
    server = Server(
        [sys.executable, str(HERE / "stages_server.py"), str(out), str(options.count)],
        "BeaconChannels",
        "BeaconChannels",
        "bench/beacon/1",
        {"RedisUrl": [redis_server.url], "Channels": [f"{name} type=float"]},
    )
    client = EventClient(server.access, ["bench_stages"])
    try:
        go(setter, options.count)
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        # Tango carries times in whole microseconds (truncated): matched at that resolution.
        stamped = json.loads(out.read_text()).items()
        device = {int(float(k) * 1e6): (float(k), v) for k, v in stamped}
        received = {round(source * 1e6): at for source, at in client.ask("stamps")}
    finally:
        client.stop()
        server.stop()
        setter.kill()
        redis_server.stop()
    values = []
    for key, (source, stages) in device.items():
        if key in received and {"reader", "decoded", "taken", "push", "pushed"} <= set(stages):
            values.append({**stages, "set": source, "client": received[key]})
    section = f"{len(values)} values at {options.rate:g} Hz: BLISS set -> Tango client, by stage"
    print(section)
    for label, start, end in STAGES:
        spans = [(v[end] - v[start]) * 1e6 for v in values]
        median, p99 = statistics.median(spans), percentile(spans, 0.99)
        print(f"  {label:45s} median {median:8.0f} us   p99 {p99:8.0f} us")
        report.figure(section, f"{label}, median", round(median), "us")
        report.figure(section, f"{label}, p99", round(p99), "us")
    report.write(options.json)


if __name__ == "__main__":
    main()
