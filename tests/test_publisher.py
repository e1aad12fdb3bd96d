"""The publisher in-process, on a real Redis, with Tango replaced by a recording sink.

A holder (a Channel in this process, on a bus of its own) streams values below the device's
capacity while other threads do what operators and clients do: add and remove lines, run Init,
subscribe in the middle of the stream, change the criteria. Whatever they do, each attribute's
events are every value once, in order, with no error event while its holder lives; above the
capacity only superseded values are dropped, counted, and the latest is last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from support.fake_sink import FakeSink
from support.redis_server import wait_held
from tango_channels import Channel
from tango_channels_device.bridge import commands
from tango_channels_device.bridge.attribute import EventKind
from tango_channels_device.bridge.criteria import Criteria
from tango_channels_device.bridge.publisher import CRITERIA_REFRESH

COUNT = 600
RATE = 400.0  # values/s: far below what the publisher carries


def stream(channel: Channel, count: int = COUNT, rate: float = RATE,
           at: dict[int, Callable[[], None]] | None = None) -> threading.Thread:
    """Set 0.0, 1.0... on ``channel`` at ``rate``, in a thread; ``at[i]()`` runs before value i."""

    def run() -> None:
        start = time.perf_counter()
        for i in range(count):
            if at and i in at:
                at[i]()
            channel.value = float(i)
            time.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def streamed(sink: FakeSink, attribute: str, count: int = COUNT) -> list[float]:
    """The streamed values the attribute's change events carried, once the last is in (the
    holder's start value, -1.0, left out); no error event came."""
    sink.wait(lambda: count - 1.0 in sink.values(attribute), what=f"{count - 1} pushed")
    values = sink.values(attribute)
    errors = [v for v in values if isinstance(v, str)]
    assert not errors, f"error events while the holder lives: {errors[:3]}"
    return [v for v in values if v != -1.0]


def holder(redis_server, make_bus, name: str) -> Channel:
    """A holder, subscribed before the device comes: the device's query finds it."""
    held = Channel(name, value=-1.0, bus=make_bus(redis_server.url))
    wait_held(redis_server, name)
    return held


def test_every_value_once_in_order_while_lines_are_added_and_removed(
    redis_server, make_bus, bridges, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    device, sink = bridges.channels([f"{unique}.pos type=float"])
    publisher = bridges.publisher
    bus = bridges.buses[0]
    flow = stream(source)
    for i in range(8):  # an operator adding and removing lines meanwhile
        extra = f"{unique}.extra{i}"
        assert commands.add_line(bus, publisher, device, f"{extra} type=int") == [extra]
        commands.remove(publisher, device, extra, "test")
    flow.join()
    got = streamed(sink, f"{unique}_pos")
    assert device.counters.values_coalesced == 0
    assert got == [float(i) for i in range(COUNT)]
    assert len(sink.retired) == 8


def test_a_subscriber_arriving_mid_stream_gets_every_value_from_then_on(
    redis_server, make_bus, bridges, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    sink = FakeSink()
    attribute = f"{unique}_pos"
    sink.listening_to = {(attribute, EventKind.CHANGE)}  # listening to the start value only
    bridges.channels([f"{unique}.pos type=float"], sink=sink)
    sink.wait(lambda: -1.0 in sink.values(attribute), what="the start value")
    sink.listening_to = set()  # the first client leaves; the next comes mid-stream
    stream(source, at={COUNT // 2: lambda: setattr(sink, "listening_to", None)}).join()
    got = streamed(sink, attribute)
    assert got == [float(i) for i in range(int(got[0]), COUNT)]  # a contiguous tail
    assert got[0] <= COUNT // 2 + 5


def test_criteria_changed_mid_stream_apply_from_then_on(redis_server, make_bus, bridges, unique):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    _, sink = bridges.channels([f"{unique}.pos type=float"])
    attribute = f"{unique}_pos"
    tenfold = Criteria(abs_change=(-10, 10))
    change = {COUNT // 3: lambda: sink.criteria_of.update({attribute: tenfold})}
    stream(source, at=change).join()
    source.value = float(COUNT + 100)  # far from the last: an event under any criterion
    got = streamed(sink, attribute, COUNT + 101)[:-1]
    steps = [b - a for a, b in zip([-1.0, *got], got, strict=False)]
    ones = steps.index(10.0)
    assert set(steps[:ones]) == {1.0} and set(steps[ones:]) == {10.0}, steps
    assert ones >= COUNT // 3  # within CRITERIA_REFRESH of the change, not before it
    assert ones <= COUNT // 3 + RATE * CRITERIA_REFRESH * 2


def test_init_during_a_stream_loses_no_order_and_duplicates_nothing(
    redis_server, make_bus, bridges, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    lines = [f"{unique}.pos type=float"]
    device, sink = bridges.channels(lines)
    attribute = f"{unique}_pos"

    def init() -> None:  # what Init does: the lines again, the attributes going on
        bridges.init(device, [*lines, f"{unique}.other type=int"])

    stream(source, at={COUNT // 2: init}).join()
    values = streamed(sink, attribute)
    assert values == [float(i) for i in range(COUNT)]  # Init drops nothing: its feed stays
    stamps = [s.timestamp for s in sink.events[(attribute, EventKind.CHANGE)]]
    assert stamps == sorted(set(stamps))  # HDB++'s key, across Init too


def test_above_capacity_only_superseded_values_are_dropped_counted_and_the_latest_is_last(
    redis_server, make_bus, bridges, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    device, sink = bridges.channels([f"{unique}.pos type=float"], sink=FakeSink(0.003))
    stream(source, count=1500, rate=3000.0).join()  # ten times what pushes can carry
    got = streamed(sink, f"{unique}_pos", 1500)
    assert got == sorted(set(got)) and got[-1] == 1499.0
    assert device.counters.values_coalesced > 0
    assert len(got) + device.counters.values_coalesced >= 1500
