"""The BLISS channel API across processes, on a real Redis server.

Each scenario runs with our library in other processes (threads, and gevent-patched as in a
BLISS session), talking to each other and to this test process.
"""

from __future__ import annotations

import threading
import time

import pytest

from support import wait_for
from support.redis_server import wait_subscribers
from tango_channels import Cache, Channel, EventChannel, clear_cache

MODES = [pytest.param(False, id="threads"), pytest.param(True, id="gevent")]


@pytest.mark.parametrize("gevent", MODES)
def test_seed_example_across_processes(redis_server, make_peer, unique, gevent):
    a = make_peer(redis_server.url, gevent=gevent)
    b = make_peer(redis_server.url, gevent=gevent)
    name = f"{unique}.test"

    a.call("open", name=name, default=42)
    assert a.call("get", name=name)["value"] == 42
    b.call("open", name=name)
    assert b.call("get", name=name)["value"] == 42  # answered by A

    a.call("watch", name=name)
    b.call("set", name=name, value="something new")
    event = a.wait_event(lambda e: e["value"] == "something new")
    assert event["type"] == "builtins.str"
    assert a.call("get", name=name)["value"] == "something new"


def test_query_is_answered_by_the_holder_not_the_default(redis_server, make_peer, bus, unique):
    holder = make_peer(redis_server.url)
    name = f"{unique}.pos"
    holder.call("open", name=name, value=1.5)
    wait_subscribers(redis_server.url, name)

    channel = Channel(name, default_value=-1, bus=bus)
    assert channel.value == 1.5
    assert channel.held.sender_id != bus.sender_id  # the holder's value, as it sent it


def test_no_holder_means_default_and_none_without_default(bus, unique):
    assert Channel(f"{unique}.a", default_value="X", bus=bus).value == "X"
    assert Channel(f"{unique}.b", bus=bus).value is None


def test_value_is_gone_when_the_last_holder_closes(redis_server, make_peer, bus, unique):
    name = f"{unique}.flag"
    holder = make_peer(redis_server.url)
    holder.call("open", name=name, value="initialised")
    wait_subscribers(redis_server.url, name)
    assert Channel(name, bus=bus).value == "initialised"

    Channel(name, bus=bus).close()
    holder.call("close", name=name)
    # Nobody holds it any more: a newcomer starts from its default.
    newcomer = make_peer(redis_server.url)
    newcomer.call("open", name=name, default="fresh")
    assert newcomer.call("get", name=name)["value"] == "fresh"


def test_same_name_is_the_same_object_and_init_runs_again(bus, unique):
    first = Channel(f"{unique}.x", default_value=1, bus=bus)
    again = Channel(f"{unique}.x", timeout=3, bus=bus)
    assert again is first
    assert first.timeout == 3
    assert first.value == 1


def test_reading_times_out_naming_the_channel(bus, unique):
    # A subscriber that never answers queries (as a raw redis-py pub/sub client).
    import redis

    client = redis.Redis.from_url(bus.address.url)
    silent = client.pubsub()
    name = f"{unique}.silent"
    silent.subscribe(name)
    silent.get_message(timeout=1)
    try:
        channel = Channel(name, timeout=0.5, bus=bus)
        with pytest.raises(TimeoutError, match=f"Channel {name} did not receive a value"):
            channel.value  # noqa: B018
        # Once the PUBLISH of our query has said one process heard it (on a loaded machine,
        # maybe after the read gave up), the reason names the holder that did not answer.
        wait_for(
            lambda: "0 of 1 holders answered" in channel.why_no_value(),
            what="the reason naming the silent holder",
        )
    finally:
        silent.close()
        client.close()


def test_callbacks_get_every_newer_value_and_can_be_removed(redis_server, make_peer, bus, unique):
    name = f"{unique}.counter"
    setter = make_peer(redis_server.url)
    setter.call("open", name=name, value=0)
    wait_subscribers(redis_server.url, name)
    channel = Channel(name, bus=bus)
    assert channel.value == 0

    seen: list[int] = []
    done = threading.Event()

    def on_value(value: int) -> None:
        seen.append(value)
        if value == 5:
            done.set()

    channel.register_callback(on_value)
    for i in range(1, 6):
        setter.call("set", name=name, value=i)
    assert done.wait(5)
    assert seen == [1, 2, 3, 4, 5]

    channel.unregister_callback(on_value)
    setter.call("set", name=name, value=6)
    deadline = time.monotonic() + 5
    while channel.held.value != 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert channel.value == 6
    assert seen == [1, 2, 3, 4, 5]


def test_callbacks_are_weak_as_in_bliss(bus, unique):
    channel = Channel(f"{unique}.weak", default_value=0, bus=bus)
    calls: list[object] = []
    channel.register_callback(lambda v: calls.append(v))  # nothing keeps the lambda alive
    channel.value = 1
    assert calls == []


def test_self_updates_false_skips_own_sets(bus, unique):
    calls: list[object] = []

    def record(value: object) -> None:
        calls.append(value)

    quiet = Channel(f"{unique}.q", default_value=0, bus=bus, self_updates=False)
    quiet.register_callback(record)
    quiet.value = 7
    loud = Channel(f"{unique}.l", default_value=0, bus=bus)
    loud.register_callback(record)
    loud.value = 8
    assert calls == [8]


def test_setting_inside_its_own_callback_is_refused(bus, unique):
    channel = Channel(f"{unique}.re", default_value=0, bus=bus)
    errors: list[Exception] = []

    def reenter(value: object) -> None:
        try:
            channel.value = "again"
        except RuntimeError as exc:
            errors.append(exc)

    channel.register_callback(reenter)
    channel.value = 1
    assert "can't set value while running a callback" in str(errors[0])


def test_cache_and_clear_cache_across_processes(redis_server, make_peer, bus, unique):
    obj_name = f"{unique}_musst"
    other = make_peer(redis_server.url)
    other.call("cache", obj=obj_name, key="last__md5", default="none")
    other.call("set", name=f"{obj_name}:last__md5", value="abc123")
    other.call("watch", name=f"{obj_name}:last__md5")
    wait_subscribers(redis_server.url, f"{obj_name}:last__md5")

    class Musst:
        name = obj_name

    musst = Musst()
    cached = Cache(musst, "last__md5", default_value="none", bus=bus)
    assert cached.name == f"{obj_name}:last__md5"
    assert cached.value == "abc123"

    clear_cache(musst)
    assert cached.value == "none"
    other.wait_event(lambda e: e["value"] == "none")
    assert other.call("get", name=f"{obj_name}:last__md5")["value"] == "none"


def test_cache_needs_a_named_object(bus):
    with pytest.raises(TypeError, match="has no name"):
        Cache(object(), "key", bus=bus)


@pytest.mark.parametrize("gevent", MODES)
def test_event_channel_delivers_lists_to_everyone(redis_server, make_peer, bus, unique, gevent):
    name = f"{unique}.events"
    peer = make_peer(redis_server.url, gevent=gevent)
    peer.call("open", name=name, event=True)
    peer.call("watch", name=name)
    received: list[list[object]] = []
    got = threading.Event()

    def on_events(events: list[object]) -> None:
        received.append(events)
        got.set()

    events = EventChannel(name, bus=bus)
    events.register_callback(on_events)
    wait_subscribers(redis_server.url, name, 2)
    events.post({"kind": "start"})
    assert peer.wait_event(lambda e: True)["value"] == [{"kind": "start"}]
    assert got.wait(5) and received == [[{"kind": "start"}]]  # the poster hears itself too


def test_a_later_value_wins_over_an_older_one(redis_server, bus, unique):
    import redis

    from tango_channels import encode_value

    channel = Channel(f"{unique}.ts", default_value=0, bus=bus)
    channel.value = "now"
    marker_seen = threading.Event()
    marker = Channel(f"{unique}.marker", default_value=0, bus=bus)
    assert marker.value == 0
    marker.register_callback(on_marker := lambda value: value == "after" and marker_seen.set())
    older = encode_value("9999", channel.held.timestamp - 10, "old")
    # Bus.publish would stamp it now: send the older message as is, then a marker on another
    # channel: one connection reads both in order, so the older one was taken (or not) first.
    raw = redis.Redis.from_url(redis_server.url)
    raw.publish(channel.name, older.wire)
    raw.publish(marker.name, encode_value("9999", time.time(), "after").wire)
    raw.close()
    assert marker_seen.wait(5) and on_marker
    assert channel.value == "now"


def test_a_set_waits_for_nothing_but_is_seen_by_others(redis_server, make_peer, bus, unique):
    name = f"{unique}.pub"
    peer = make_peer(redis_server.url)
    peer.call("open", name=name, default=0)
    peer.call("watch", name=name)
    wait_subscribers(redis_server.url, name)
    channel = Channel(name, bus=bus)
    channel.value = [1, 2.5, "x"]
    assert peer.wait_event(lambda e: e["value"] == [1, 2.5, "x"])["type"] == "builtins.list"


def test_a_mirror_never_makes_up_a_value(redis_server, make_peer, bus, unique):
    """A bridge must not answer a BLISS query with a default it invented."""
    name = f"{unique}.mirrored"
    mirror = Channel(name, bus=bus, mirror=True, timeout=0.5)
    with pytest.raises(TimeoutError, match="no process holds a value"):
        mirror.value  # noqa: B018
    wait_subscribers(redis_server.url, name)
    newcomer = make_peer(redis_server.url)
    newcomer.call("open", name=name, default="its own default")
    assert newcomer.call("get", name=name)["value"] == "its own default"
    newcomer.call("set", name=name, value="set by a holder")
    wait_for(lambda: mirror.held is not None and mirror.held.value == "set by a holder")


def test_two_mirrors_of_a_channel_nobody_holds_answer_each_other_and_hold_nothing(
    redis_server, make_bus, unique
):
    """Two devices watching a channel no BLISS process holds: each answers the other, neither
    makes a value up. (That Redis is quiet after: test_protocol.py, on a fake clock.)"""
    name = f"{unique}.unheld"
    first, second = make_bus(redis_server.url), make_bus(redis_server.url)
    mirrors = [Channel(name, bus=first, mirror=True)]
    wait_subscribers(redis_server.url, name)
    mirrors.append(Channel(name, bus=second, mirror=True))
    wait_for(lambda: all(m.settled for m in mirrors), what="both queries answered")
    wait_for(lambda: first.stats.queries_answered and second.stats.queries_answered)
    assert all(m.held is None for m in mirrors)


# Who posts and who listens: our library with threads or gevent-patched (as a BLISS session),
# and real BLISS 2.4 (a gevent process).
POSTERS_AND_LISTENERS = [
    pytest.param("threads", "gevent", id="threads-to-gevent"),
    pytest.param("gevent", "threads", id="gevent-to-threads"),
    pytest.param("threads", "bliss", id="threads-to-bliss"),
    pytest.param("gevent", "bliss", id="gevent-to-bliss"),
    pytest.param("bliss", "threads", id="bliss-to-threads"),
    pytest.param("bliss", "gevent", id="bliss-to-gevent"),
]


@pytest.mark.parametrize(("poster_kind", "listener_kind"), POSTERS_AND_LISTENERS)
def test_events_posted_at_once_on_a_new_event_channel_arrive_once_in_order(
    redis_server, make_peer, request, unique, poster_kind, listener_kind
):
    """BLISS's own use: a session already connected (it holds a channel) creates an
    EventChannel and posts at once, before its subscription is confirmed. A listener counting
    events (a scan, a sequencer) must get each once, in order."""

    def peer(kind: str):
        if kind == "bliss":
            python = request.getfixturevalue("bliss_python")
            return make_peer(redis_server.url, impl="bliss", python=python)
        return make_peer(redis_server.url, gevent=kind == "gevent")

    name = f"{unique}.t_event"
    poster, listener = peer(poster_kind), peer(listener_kind)
    poster.call("open", name=f"{unique}.held", value=1)  # connected, as a session is
    listener.call("open", name=name, event=True)
    listener.call("watch", name=name)
    wait_subscribers(redis_server.url, name)
    poster.call("post_new", name=name, values=["a", 2, [3]])
    poster.call("post", name=name, value="end")
    received: list[object] = []
    while "end" not in received:
        received += listener.wait_event(lambda e: e["name"] == name)["value"]
    assert received == ["a", 2, [3], "end"]


def test_a_channel_nobody_references_is_unsubscribed_and_can_be_opened_again(
    redis_server, make_bus, unique
):
    import gc

    import redis

    bus = make_bus(redis_server.url)
    name = f"{unique}.dropped"
    channel = Channel(name, value=1.0, bus=bus)
    wait_subscribers(redis_server.url, name)
    del channel
    gc.collect()  # as BLISS: the last reference gone, the channel closes
    client = redis.Redis.from_url(redis_server.url)
    try:
        wait_for(
            lambda: client.pubsub_numsub(name) == [(name.encode(), 0)],
            what="the collected channel unsubscribed",
        )
    finally:
        client.close()
    again = Channel(name, default_value=2.0, bus=bus)  # a new one: nobody holds a value now
    wait_subscribers(redis_server.url, name)
    assert again.value == 2.0
