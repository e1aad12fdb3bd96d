"""Interoperability with real BLISS 2.4.0 processes (``bliss.config.channels``).

BLISS runs in its own venv and process (importing it monkey-patches gevent); the same peer
script drives it (tests/support/peer.py). BLISS publishes asynchronously from a greenlet: the
tests wait for effects, never for the set call itself.
"""

from __future__ import annotations

import threading

import numpy
import pytest

from support import wait_for
from support.redis_server import wait_subscribers
from tango_channels import Cache, Channel, EventChannel, Opaque, clear_cache


@pytest.fixture
def bliss(redis_server, make_peer, bliss_python):
    def start():
        return make_peer(redis_server.url, impl="bliss", python=bliss_python)

    return start


def wait_value(channel: Channel, expected, timeout: float = 10) -> None:
    got = threading.Event()

    def check(_value) -> None:
        if _matches(channel.held.value, expected):
            got.set()

    channel.register_callback(check)
    try:
        if not _matches(channel.value, expected):
            assert got.wait(timeout), f"{channel.name} holds {channel.held}"
    finally:
        channel.unregister_callback(check)


def _matches(value, expected) -> bool:
    if isinstance(value, numpy.ndarray) or isinstance(expected, numpy.ndarray):
        return numpy.array_equal(value, expected)
    return value == expected


def test_bliss_holder_answers_our_query_and_we_answer_its(redis_server, bliss, bus, unique):
    peer = bliss()
    name = f"{unique}.x"
    peer.call("open", name=name, default=42)
    assert peer.call("get", name=name)["value"] == 42
    wait_subscribers(redis_server.url, name)
    ours = Channel(name, default_value=-1, bus=bus)
    assert ours.value == 42

    mine = f"{unique}.mine"
    held = Channel(mine, value={"gain": 2, "mode": "fast"}, bus=bus)  # noqa: F841 - kept alive
    wait_subscribers(redis_server.url, mine)
    peer.call("open", name=mine, default="bliss default")
    answer = peer.call("get", name=mine)
    assert answer["value"] == {"gain": 2, "mode": "fast"}
    assert answer["type"] == "builtins.dict"


def test_sets_flow_both_ways(redis_server, bliss, bus, unique):
    peer = bliss()
    name = f"{unique}.pos"
    ours = Channel(name, default_value=0.0, bus=bus)
    assert ours.value == 0.0
    peer.call("open", name=name)
    peer.call("watch", name=name)
    wait_subscribers(redis_server.url, name, 2)

    peer.call("set", name=name, value=1.25)
    wait_value(ours, 1.25)

    ours.value = 2.5
    event = peer.wait_event(lambda e: e["value"] == 2.5)
    assert event["type"] == "builtins.float"


@pytest.mark.parametrize(
    ("sent", "type_path", "shown"),
    [
        (
            {"__axisstate__": ["MOVING", "LIMPOS"]},
            "bliss.common.axis.state.AxisState",
            {"states": ["MOVING", "LIMPOS"]},
        ),
        ({"__shutter__": "OPEN"}, "bliss.common.base_shutter.BaseShutterState", {"args": ["Open"]}),
    ],
    ids=["axisstate", "enum"],
)
@pytest.mark.parametrize("learned_by", ["broadcast", "reply"])
def test_bliss_objects_are_re_sent_as_real_bliss_objects(
    redis_server, bliss, bus, unique, sent, type_path, shown, learned_by
):
    """A BLISS object we can only hold opaquely reaches the next BLISS process intact."""
    name = f"{unique}.state"
    first = bliss()
    if learned_by == "broadcast":  # we hold the channel when BLISS sets it
        ours = Channel(name, default_value=None, bus=bus)
        assert ours.value is None
        first.call("open", name=name)
        wait_subscribers(redis_server.url, name, 2)
        first.call("set", name=name, value=sent)
        wait_for(lambda: isinstance(ours.held.value, Opaque), what="BLISS's value")
    else:  # we join after BLISS set it: its reply tells us
        first.call("open", name=name, value=sent)
        wait_subscribers(redis_server.url, name)
        ours = Channel(name, bus=bus)
        ours.value  # noqa: B018
    assert isinstance(ours.value, Opaque)
    assert ours.value.class_path == type_path

    first.kill()  # only we hold it now
    wait_subscribers(redis_server.url, name, 1)
    second = bliss()
    second.call("open", name=name, default="no holder")
    answer = second.call("get", name=name)
    assert answer["type"] == type_path
    assert answer["value"] == shown


def test_numpy_arrays_between_numpy_1_and_2(redis_server, bliss, bus, unique):
    peer = bliss()
    name = f"{unique}.spectrum"
    ours = Channel(name, default_value=numpy.zeros(3), bus=bus)
    ours.value  # noqa: B018
    peer.call("open", name=name)
    peer.call("watch", name=name)
    wait_subscribers(redis_server.url, name, 2)

    peer.call("set", name=name, value={"__ndarray__": {"dtype": "int32", "data": [[0, 1], [2, 3]]}})
    wait_value(ours, numpy.array([[0, 1], [2, 3]], dtype=numpy.int32))
    assert ours.value.dtype == numpy.int32

    ours.value = numpy.linspace(0, 1, 5)  # pickled by numpy 2 here, read by numpy 1.26 there
    event = peer.wait_event(lambda e: isinstance(e["value"], dict) and e["value"]["shape"] == [5])
    assert event["type"] == "numpy.ndarray"
    assert event["value"] == {"dtype": "float64", "shape": [5], "data": [0.0, 0.25, 0.5, 0.75, 1.0]}


def test_clear_cache_both_ways(redis_server, bliss, bus, unique):
    obj_name = f"{unique}_mot"
    peer = bliss()
    peer.call("cache", obj=obj_name, key="velocity", default=1.0)
    peer.call("set", name=f"{obj_name}:velocity", value=7.0)
    peer.call("watch", name=f"{obj_name}:velocity")
    wait_subscribers(redis_server.url, f"{obj_name}:velocity")

    class Mot:
        name = obj_name

    mot = Mot()
    cached = Cache(mot, "velocity", default_value=1.0, bus=bus)
    assert cached.value == 7.0

    clear_cache(mot)
    assert peer.wait_event(lambda e: e["value"] == 1.0)

    peer.call("set", name=f"{obj_name}:velocity", value=3.0)
    wait_value(cached, 3.0)
    peer.call("clear_cache", objs=[obj_name])
    wait_value(cached, 1.0)


def test_event_channels_both_ways(redis_server, bliss, bus, unique):
    name = f"{unique}.events"
    peer = bliss()
    peer.call("open", name=name, event=True)
    peer.call("watch", name=name)
    received: list = []
    got = threading.Event()

    def on_events(events) -> None:
        received.extend(events)
        if {"kind": "from bliss"} in received:
            got.set()

    ours = EventChannel(name, bus=bus)
    ours.register_callback(on_events)
    wait_subscribers(redis_server.url, name, 2)

    ours.post({"kind": "from us"})
    assert peer.wait_event(lambda e: e["value"] == [{"kind": "from us"}])
    peer.call("post", name=name, value={"kind": "from bliss"})
    assert got.wait(10)


def test_values_naming_untrusted_classes_are_not_re_sent(redis_server, bliss, make_bus, unique):
    """What BLISS would import and run is only passed on for classes under bliss.*."""
    from tango_channels import Bus

    name = f"{unique}.payload"
    publisher = make_bus(redis_server.url)
    holder = Bus(redis_server.url)  # trusts bliss.* only (the default)
    try:
        ours = Channel(name, bus=holder, mirror=True)
        wait_subscribers(redis_server.url, name)
        # An object of a class from somewhere else (it could be gevent.subprocess.Popen).
        from tango_channels.wire.opaque import opaque_class

        thing = opaque_class("elsewhere.module", "Thing")("argument")
        thing._called = True
        publisher.publish(name, thing)
        wait_for(lambda: ours.held is not None)
        assert ours.held.classes == {"elsewhere.module.Thing"}
        peer = bliss()
        peer.call("open", name=name, default="its default")
        assert peer.call("get", name=name)["value"] == "its default"
    finally:
        holder.close()


def test_a_mirror_learns_the_default_of_a_bliss_session_started_after_it(
    redis_server, bliss, bus, unique
):
    """BLISS never publishes a default: the mirror asks again when BLISS joins."""
    name = f"{unique}.joined"
    mirror = Channel(name, bus=bus, mirror=True)
    wait_for(lambda: mirror.settled, what="nobody holding a value")
    assert mirror.held is None
    peer = bliss()
    peer.call("open", name=name, default=5)
    assert peer.call("get", name=name)["value"] == 5
    wait_for(
        lambda: mirror.held is not None and mirror.held.value == 5,
        what="the default of the BLISS process that joined",
    )


def test_a_query_counting_a_holder_that_died_is_asked_again(redis_server, bus, unique):
    """The answer never comes from a holder that died mid-query: asking again settles it."""
    import redis

    name = f"{unique}.orphan"
    client = redis.Redis.from_url(redis_server.url)
    dying = client.pubsub()  # counted by our query, and never answers
    dying.subscribe(name)
    dying.get_message(timeout=1)
    try:
        channel = Channel(name, bus=bus, timeout=0.5, mirror=True)
        wait_for(lambda: channel.query is not None and channel.query.expected == 1)
        assert channel.why_no_value() == "0 of 1 holders answered the query"
        dying.close()  # it dies; Redis forgets its subscription
        wait_for(lambda: channel.settled, what="the query asked again")
        assert channel.why_no_value() == "no process holds a value"
    finally:
        client.close()
