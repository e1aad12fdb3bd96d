"""Where a channel's memory goes: tracemalloc over the device's Tango-free half.

A process holds N channels on a private Redis; in this process, the server's publisher exposes
them on one BeaconChannels bridge whose Tango half keeps nothing (so what is measured is the
library's and the bridge's share, not Tango's). Once every attribute shows its value, the
allocations made since the start are grouped by the file and line that made them, and the
biggest are printed per channel. Python objects only: what cppTango allocates for an
attribute is the bare device's floor in ``device_bench.py``'s memory section.

    .venv/bin/python bench/memory_shares.py [--channels 10000] [--top 25]
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from common import hold  # noqa: E402
from report import Report, add_json_option  # noqa: E402

from support.redis_server import RedisServer  # noqa: E402
from tango_channels import Bus  # noqa: E402
from tango_channels.transport.address import RedisAddress  # noqa: E402
from tango_channels_device.bridge.criteria import NO_CRITERIA, Criteria  # noqa: E402
from tango_channels_device.bridge.devices import ChannelsBridge  # noqa: E402
from tango_channels_device.bridge.publisher import Publisher  # noqa: E402

log = logging.getLogger("memory_shares")


class KeepNothing:
    """A Tango half that keeps nothing: what the bridge holds is all that is measured."""

    def create(self, records: list) -> dict:  # type: ignore[type-arg]
        return {}

    def listening(self, record: object) -> int:
        return 1

    def criteria(self, record: object) -> Criteria:
        return NO_CRITERIA  # as Tango's attribute configurations, parsed once for all

    def push(self, record: object, kind: object, sample: object) -> bool:
        return True

    def retire(self, record: object) -> None:
        pass

    def show_state(self, state: object) -> None:
        pass

    def show_counters(self, counters: object) -> None:
        pass

    def show_names(self, names: list[str]) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--top", type=int, default=25, help="lines of allocations to print")
    add_json_option(parser, "memory_shares")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = Report("memory_shares")
    section = f"Python allocations per channel, {args.channels} channels held by another process"

    server = RedisServer(Path(tempfile.mkdtemp(prefix="memory-shares-"))).start()
    names = [f"mem.c{i:05d}" for i in range(args.channels)]
    holder = hold(server.url, names)
    buses: list[Bus] = []

    def bus(address: RedisAddress, trusted: tuple[str, ...]) -> Bus:
        made = Bus(address, trusted_modules=trusted)
        made.wait_connected(10)
        buses.append(made)
        return made

    try:
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
        publisher = Publisher(bus, survey=False)
        publisher.start()
        bridge = ChannelsBridge(
            "bench/memory/1", KeepNothing(), RedisAddress.from_url(server.url), "bench"
        )
        lines = [f"{name} type=float" for name in names]
        publisher.call(lambda: publisher.configure(bridge, lines, [], "bench"), timeout=60)
        publisher.call(lambda: publisher.attach(bridge), timeout=120)
        assert publisher.wait_settled(bridge, 120), "the attributes' first answers"
        gc.collect()
        after = tracemalloc.take_snapshot()
        stats = after.compare_to(before, "lineno")
        total = sum(s.size_diff for s in stats)
        print(f"{section}:")
        _figure(report, section, "total", total / args.channels)
        by_file: dict[str, int] = {}
        for stat in stats:
            frame = stat.traceback[0]
            short = _short(frame.filename)
            by_file[short] = by_file.get(short, 0) + stat.size_diff
        for short, size in sorted(by_file.items(), key=lambda kv: -kv[1])[: args.top]:
            if size / args.channels >= 8:
                _figure(report, section, f"file {short}", size / args.channels)
        for stat in stats[: args.top]:
            frame = stat.traceback[0]
            where = f"{_short(frame.filename)}:{frame.lineno}"
            _figure(report, section, f"line {where}", stat.size_diff / args.channels)
        publisher.stop()
    finally:
        tracemalloc.stop()
        for made in buses:
            made.close()
        holder.kill()
        server.kill()
    report.write(args.json)


def _figure(report: Report, section: str, name: str, per_channel: float) -> None:
    print(f"  {per_channel:8.0f} B  {name}")
    report.figure(section, name, round(per_channel), "B")


def _short(filename: str) -> str:
    for marker in ("tango_channels_device/", "device_classes/", "tango_channels/"):
        if marker in filename:
            return marker + filename.split(marker, 1)[1]
    return Path(filename).name


if __name__ == "__main__":
    main()
