"""Speed of the channel library, measured against raw redis-py pub/sub in the same run.

    .venv/bin/python bench/channel_bench.py [--redis URL] [--count N] [--rate HZ]

Without ``--redis`` it starts its own ``redis-server`` on a free port. It prints, and writes
to ``bench/results/channel_bench.json`` (``--json PATH``; see ``bench/report.py``):

1. set -> callback latency between two processes, median and p99, at ``--rate`` Hz:
   raw redis-py (``publish`` of a pickled tuple / ``PubSub.get_message`` in a thread) and
   tango_channels (``Channel.value = x`` / callback), interleaved in rounds;
2. how many distinct values per second one channel carries (sender as fast as it can,
   receiver counting callbacks);
3. the time to create and initialise 1,000 channels, with nobody holding them (defaults)
   and with another process holding all of them (answers to 1,000 queries).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
from common import percentile  # noqa: E402
from report import Report, add_json_option  # noqa: E402

from tango_channels_deploy.local_redis import LocalRedis  # noqa: E402


# ------------------------------------------------------------------ receiver roles
def receive_raw(url: str, name: str, count: int) -> dict:
    import redis

    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    pubsub.subscribe(name)
    while pubsub.get_message(timeout=1) is None:
        pass  # the subscribe confirmation
    print("READY", flush=True)
    latencies = []
    while len(latencies) < count:
        message = pubsub.get_message(timeout=5)
        if message is None:
            break
        if message["type"] == "message":
            _, sent, _ = pickle.loads(message["data"])
            latencies.append(time.time() - sent)
    return {"latencies": latencies}


def receive_channel(url: str, name: str, count: int) -> dict:
    from tango_channels import Bus, Channel

    bus = Bus(url)
    channel = Channel(name, default_value=0.0, bus=bus)
    channel.value  # noqa: B018 - wait for the subscription and the query
    latencies: list[float] = []
    done = threading.Event()

    def on_value(_value: float) -> None:
        latencies.append(time.time() - channel.held.timestamp)
        if len(latencies) >= count:
            done.set()

    channel.register_callback(on_value)
    print("READY", flush=True)
    done.wait(count / 100 + 30)
    return {"latencies": latencies}


def receive_throughput(url: str, name: str, count: int) -> dict:
    from tango_channels import Bus, Channel

    bus = Bus(url)
    channel = Channel(name, default_value=-1, bus=bus)
    channel.value  # noqa: B018
    times: list[float] = []
    done = threading.Event()

    def on_value(value: int) -> None:
        times.append(time.perf_counter())
        if value == count - 1:
            done.set()

    channel.register_callback(on_value)
    print("READY", flush=True)
    done.wait(120)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return {"received": len(times), "per_second": (len(times) - 1) / span}


def hold_many(url: str, prefix: str, count: int) -> dict:
    from tango_channels import Bus, Channel

    bus = Bus(url)
    held = [Channel(f"{prefix}.{i}", value=i, bus=bus) for i in range(count)]
    deadline = time.monotonic() + 30
    while bus.pending_values() and time.monotonic() < deadline:
        time.sleep(0.01)
    print("READY", flush=True)
    sys.stdin.readline()
    return {"held": len(held)}


ROLES = {
    "raw": receive_raw,
    "channel": receive_channel,
    "throughput": receive_throughput,
    "hold": hold_many,
}


# ------------------------------------------------------------------ driver
class Child:
    def __init__(self, role: str, url: str, name: str, count: int) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                HERE,
                "--role",
                role,
                "--redis",
                url,
                "--name",
                name,
                "--count",
                str(count),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError(f"{role} receiver did not start: {line!r}")

    def result(self) -> dict:
        out, _ = self.process.communicate(timeout=180)
        return json.loads(out.strip().splitlines()[-1])


def run_latency(url: str, count: int, rate: float, rounds: int) -> dict[str, list[float]]:
    import redis

    from tango_channels import Bus, Channel

    client = redis.Redis.from_url(url)
    bus = Bus(url)
    results: dict[str, list[float]] = {"raw redis-py": [], "tango_channels": []}
    period = 1.0 / rate
    for round_ in range(rounds):
        for label in results:
            name = f"bench.latency.{round_}.{label}"
            child = Child("raw" if label == "raw redis-py" else "channel", url, name, count)
            channel = Channel(name, default_value=0.0, bus=bus) if label != "raw redis-py" else None
            if channel is not None:
                channel.value  # noqa: B018
            pid = str(os.getpid())
            next_send = time.perf_counter()
            for _ in range(count):
                next_send += period
                # Sleep as a real process would (a busy loop would hold the GIL).
                time.sleep(max(0.0, next_send - time.perf_counter()))
                if channel is None:
                    client.publish(name, pickle.dumps((pid, time.time(), 1.5), protocol=4))
                else:
                    channel.value = 1.5
            results[label] += child.result()["latencies"]
    bus.close()
    return results


def run_throughput(url: str, count: int) -> dict:
    from tango_channels import Bus, Channel

    bus = Bus(url)
    child = Child("throughput", url, "bench.throughput", count)
    channel = Channel("bench.throughput", bus=bus)
    channel.value  # noqa: B018
    started = time.perf_counter()
    for i in range(count):
        channel.value = i
    sent = count / (time.perf_counter() - started)
    result = child.result()
    bus.close()
    return {"sent_per_second": sent, **result}


def run_startup(url: str, count: int) -> dict[str, float]:
    from tango_channels import Bus, Channel

    timings = {}
    bus = Bus(url)
    assert bus.wait_connected(5)
    started = time.perf_counter()
    channels = [Channel(f"bench.start.free.{i}", default_value=i, bus=bus) for i in range(count)]
    assert [c.value for c in channels] == list(range(count))
    timings["no holder (defaults)"] = time.perf_counter() - started

    holder = subprocess.Popen(
        [
            sys.executable,
            HERE,
            "--role",
            "hold",
            "--redis",
            url,
            "--name",
            "bench.start.held",
            "--count",
            str(count),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "READY"
    started = time.perf_counter()
    channels = [Channel(f"bench.start.held.{i}", default_value=-1, bus=bus) for i in range(count)]
    values = [c.value for c in channels]
    timings["another process holds them"] = time.perf_counter() - started
    assert values == list(range(count)), "answers from the holder expected"
    holder.communicate("\n", timeout=30)
    bus.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", help="Redis URL (default: start a private redis-server)")
    parser.add_argument("--count", type=int, default=2000, help="values per latency round")
    parser.add_argument("--rate", type=float, default=500.0, help="latency test rate, Hz")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    add_json_option(parser, "channel_bench")
    options = parser.parse_args()

    if options.role:
        print(
            json.dumps(ROLES[options.role](options.redis, options.name, options.count)), flush=True
        )
        return

    server = None if options.redis else LocalRedis()
    url = options.redis or server.url
    report = Report("channel_bench")
    try:
        print(f"Redis: {url}; {os.cpu_count()} cores; Python {sys.version.split()[0]}")
        section = (
            f"set -> callback latency, {options.rounds} x {options.count} values "
            f"at {options.rate:g} Hz"
        )
        print(f"\n1. {section} (ms)")
        latency = run_latency(url, options.count, options.rate, options.rounds)
        medians, p99s = {}, {}
        for label, values in latency.items():
            medians[label] = statistics.median(values)
            p99s[label] = percentile(values, 0.99)
            print(
                f"   {label:16s} n={len(values):6d}  median {medians[label] * 1e3:6.3f}  "
                f"p99 {p99s[label] * 1e3:6.3f}"
            )
        for label in latency:
            floor = label != "raw redis-py"
            for what, figures in (("median", medians), ("p99", p99s)):
                report.figure(
                    section,
                    f"{label}, {what}",
                    round(figures[label] * 1e3, 3),
                    "ms",
                    floor=round(figures["raw redis-py"] * 1e3, 3) if floor else None,
                )
        overhead = medians["tango_channels"] / medians["raw redis-py"] - 1
        print(f"   library overhead on the median: {overhead * 100:+.1f} % (target <= +10 %)")
        report.figure(
            section,
            "library overhead on the median",
            round(overhead * 100, 1),
            "%",
            target_max=10,
        )

        section = "one channel, distinct values as fast as the sender can set them"
        print(f"\n2. {section}")
        result = run_throughput(url, 20_000)
        print(
            f"   sent {result['sent_per_second']:8.0f} values/s; received "
            f"{result['received']} at {result['per_second']:8.0f} values/s (target >= 5000)"
        )
        report.figure(section, "sent", round(result["sent_per_second"]), "values/s")
        report.figure(section, "received", round(result["per_second"]), "values/s", target_min=5000)

        section = "1,000 channels created and initialised"
        print(f"\n3. {section} (target < 200 ms)")
        for label, seconds in run_startup(url, 1000).items():
            print(f"   {label:28s} {seconds * 1e3:7.1f} ms")
            report.figure(section, label, round(seconds * 1e3, 1), "ms", target_max=200)
        report.write(options.json)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
