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
from collections.abc import Callable, Iterator

import pytest

from support.fake_sink import FakeSink
from tango_channels import Bus, Channel
from tango_channels_device.bridge import commands
from tango_channels_device.bridge.attribute import EventKind
from tango_channels_device.bridge.criteria import Criteria
from tango_channels_device.bridge.publisher import CRITERIA_REFRESH, Publisher

COUNT = 600
RATE = 400.0  # values/s: far below what the publisher carries


@pytest.fixture
def device(redis_server, make_bus) -> Iterator[Callable[..., tuple[Publisher, FakeSink]]]:
    """Publishers as the device makes them (surveying every 0.2 s), stopped at the end."""
    made: list[Publisher] = []

    def make(
        lines: list[str], sink: FakeSink | None = None, bus: Bus | None = None,
        before: Publisher | None = None,
    ) -> tuple[Publisher, FakeSink]:
        sink = sink or FakeSink()
        records = before.catalogue.records() if before else []
        bus = bus or make_bus(redis_server.url)
        assert bus.wait_connected(5)
        publisher = Publisher(
            bus,
            sink,
            reserved_names=["State", "Status"],
            known={r.key: (r.name or "", str(r.kind)) for r in records},
            before=records,
            discovery_period=0.2,
            settings_period=0.2,
        )
        made.append(publisher)
        publisher.start(lines, [])
        assert publisher.wait_settled(5)
        return publisher, sink

    yield make
    for publisher in made:
        publisher.stop()


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
    return Channel(name, value=-1.0, bus=make_bus(redis_server.url))


def test_every_value_once_in_order_while_lines_are_added_and_removed(
    redis_server, make_bus, device, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    publisher, sink = device([f"{unique}.pos type=float"])
    flow = stream(source)
    for i in range(8):  # an operator adding and removing lines meanwhile
        extra = f"{unique}.extra{i}"
        assert commands.add_line(publisher.bus, publisher, f"{extra} type=int") == [extra]
        commands.remove(publisher, extra, "test")
    flow.join()
    got = streamed(sink, f"{unique}_pos")
    assert publisher.counters.values_coalesced == 0
    assert got == [float(i) for i in range(COUNT)]
    assert len(sink.retired) == 8


def test_a_subscriber_arriving_mid_stream_gets_every_value_from_then_on(
    redis_server, make_bus, device, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    sink = FakeSink()
    attribute = f"{unique}_pos"
    sink.listening = {(attribute, EventKind.CHANGE)}  # listening to the start value only
    device([f"{unique}.pos type=float"], sink)
    sink.wait(lambda: -1.0 in sink.values(attribute), what="the start value")
    sink.listening = set()  # the first client leaves; the next comes mid-stream
    stream(source, at={COUNT // 2: lambda: setattr(sink, "listening", None)}).join()
    got = streamed(sink, attribute)
    assert got == [float(i) for i in range(int(got[0]), COUNT)]  # a contiguous tail
    assert got[0] <= COUNT // 2 + 5


def test_criteria_changed_mid_stream_apply_from_then_on(redis_server, make_bus, device, unique):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    _, sink = device([f"{unique}.pos type=float"])
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
    redis_server, make_bus, device, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    bus = make_bus(redis_server.url)
    first, sink = device([f"{unique}.pos type=float"], bus=bus)
    attribute = f"{unique}_pos"
    restarted: list[Publisher] = []

    def init() -> None:  # what Init does: the old publisher stops, a new one starts
        first.stop()
        restarted.append(device([f"{unique}.pos type=float"], sink, bus, first)[0])

    stream(source, at={COUNT // 2: init}).join()
    sink.wait(lambda: COUNT - 1.0 in sink.values(attribute), what="the last value")
    values = [v for v in sink.values(attribute) if isinstance(v, float) and v >= 0]
    assert values == sorted(set(values))  # in order, never twice (the last shown included)
    stamps = [s.timestamp for s in sink.events[(attribute, EventKind.CHANGE)]]
    assert stamps == sorted(set(stamps))  # HDB++'s key, across Init too
    tail = values[values.index(float(COUNT // 2 + 20)) :]  # after the new one settled
    assert tail == [float(i) for i in range(COUNT // 2 + 20, COUNT)]


def test_above_capacity_only_superseded_values_are_dropped_counted_and_the_latest_is_last(
    redis_server, make_bus, device, unique
):
    source = holder(redis_server, make_bus, f"{unique}.pos")
    publisher, sink = device([f"{unique}.pos type=float"], FakeSink(push_seconds=0.003))
    stream(source, count=1500, rate=3000.0).join()  # ten times what pushes can carry
    got = streamed(sink, f"{unique}_pos", 1500)
    assert got == sorted(set(got)) and got[-1] == 1499.0
    assert publisher.counters.values_coalesced > 0
    assert len(got) + publisher.counters.values_coalesced >= 1500
