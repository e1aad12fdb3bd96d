"""The protocol core on its own: messages in, commands and deliveries out, a fake clock.

No Redis and no waiting: every timing rule (asking a newcomer again, the rejoin window, a
holder that dies mid-query) is checked by moving the clock. Each test is what a BLISS user
would notice if the rule were wrong.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tango_channels.protocol import (
    ASK_AGAIN_AFTER_A_NEWCOMER,
    REJOIN_WINDOW,
    ChannelProtocol,
    ChannelRecord,
    Deliver,
    HoldersChanged,
    Instant,
    Phase,
    Publish,
    Role,
    Warn,
    is_join,
)
from tango_channels.wire.decode import decode
from tango_channels.wire.encode import encode_query, encode_reply, encode_value
from tango_channels.wire.messages import Query, Reply
from tango_channels.wire.opaque import opaque_class

NAME = "axis.roby.position"
WIRE = NAME.encode()
BLISS = "4242"  # a BLISS process's sender id (its pid)
NEWCOMER_QUERY = "0123456789ab4def8123456789abcdef"  # a uuid4 hex, as BLISS makes them


def query_ids() -> Callable[[], str]:
    """uuid4-shaped query ids, predictable: what the bus makes with ``uuid.uuid4().hex``."""
    counter = itertools.count(1)
    return lambda: f"{next(counter):012x}4{0:019x}"


def protocol(sender_id: str = "1000") -> ChannelProtocol:
    return ChannelProtocol(sender_id, new_id=query_ids())


@dataclass
class Clock:
    monotonic: float = 1000.0
    wall: float = 1.7e9

    def now(self) -> Instant:
        return Instant(self.monotonic, self.wall)

    def advance(self, seconds: float) -> Instant:
        self.monotonic += seconds
        self.wall += seconds
        return self.now()


@dataclass
class Peer:
    """Our process, as the bus drives it: a protocol, a clock, and what came out."""

    protocol: ChannelProtocol = field(default_factory=protocol)
    clock: Clock = field(default_factory=Clock)

    def open(self, role: Role = Role.HOLDER, **kwargs: Any) -> ChannelRecord:
        record, _ = self.protocol.open(NAME, role, timeout=kwargs.pop("timeout", 10.0), **kwargs)
        return record

    def connect(self) -> None:
        self.protocol.connection_made(self.clock.now())

    def subscribed(self) -> list[Any]:
        return self.protocol.subscribed(WIRE, self.clock.now())

    def receive(self, data: bytes) -> list[Any]:
        return self.protocol.received(WIRE, data, self.clock.now())

    def tick(self, seconds: float = 0.0) -> list[Any]:
        return self.protocol.tick(self.clock.advance(seconds))

    def join(self, subscribers: int) -> Query:
        """Connect, subscribe: the query goes out; PUBLISH counted ``subscribers``."""
        self.connect()
        (publish,) = [a for a in self.subscribed() if isinstance(a, Publish)]
        query = decode(publish.data)
        assert isinstance(query, Query) and publish.query == query.id
        self.protocol.published(query.id, subscribers, self.clock.now())
        return query


def queries(actions: list[Any]) -> list[Query]:
    found = [decode(a.data) for a in actions if isinstance(a, Publish) and a.query]
    assert all(isinstance(q, Query) for q in found)
    return found  # type: ignore[return-value]


def replies(actions: list[Any]) -> list[Reply]:
    found = [decode(a.data) for a in actions if isinstance(a, Publish) and not a.query]
    return [r for r in found if isinstance(r, Reply)]


def delivered(actions: list[Any]) -> list[Any]:
    return [a.message.value for a in actions if isinstance(a, Deliver)]


def value_from(sender: str, timestamp: float, value: Any) -> bytes:
    message = encode_value(sender, timestamp, value)
    assert message.wire is not None
    return message.wire


# ------------------------------------------------------------------------ joining
def test_a_new_channel_takes_the_value_a_holder_answers_not_its_default():
    us = Peer()
    record = us.open(default="the default")
    query = us.join(subscribers=2)  # the holder and us
    held = encode_value(BLISS, us.clock.wall - 5, 12.5)
    assert delivered(us.receive(encode_reply(NAME, query.id, held))) == [12.5]
    assert record.held is not None and record.held.sender_id == BLISS


def test_with_nobody_holding_a_value_a_channel_starts_from_its_default_and_a_mirror_from_nothing():
    us = Peer()
    record = us.open(default="the default")
    query = us.join(subscribers=2)
    assert delivered(us.receive(encode_reply(NAME, query.id, None))) == ["the default"]
    assert record.held is not None and record.held.sender_id == us.protocol.sender_id

    mirror = Peer()
    mirrored = mirror.open(Role.MIRROR, default="never offered")
    query = mirror.join(subscribers=2)
    assert delivered(mirror.receive(encode_reply(NAME, query.id, None))) == []
    assert mirrored.held is None and mirrored.settled and mirrored.nobody_holds


def test_alone_on_a_channel_the_default_comes_as_soon_as_publish_counts_nobody_else():
    us = Peer()
    record = us.open(default=0)
    us.join(subscribers=1)  # only us
    assert record.held is not None and record.held.value == 0


# ------------------------------------------------------------------------ answering
def test_every_query_of_another_process_is_answered_with_the_held_value():
    us = Peer()
    record = us.open()
    us.connect()
    us.protocol.set_value(record, "set here", us.clock.now())
    (reply,) = replies(us.receive(encode_query(NAME, NEWCOMER_QUERY)))
    assert reply.id == NEWCOMER_QUERY and reply.value is not None
    assert reply.value.value == "set here"


def test_our_own_query_coming_back_is_not_answered():
    us = Peer()
    us.open()
    query = us.join(subscribers=2)
    assert replies(us.receive(encode_query(NAME, query.id))) == []


def test_a_value_naming_untrusted_classes_is_answered_as_not_held():
    us = Peer()
    record = us.open(Role.MIRROR)
    us.connect()
    thing = opaque_class("elsewhere.module", "Thing")("argument")
    thing._called = True
    us.receive(value_from(BLISS, us.clock.wall, thing))
    assert record.held is not None and record.held.classes == {"elsewhere.module.Thing"}
    (reply,) = replies(us.receive(encode_query(NAME, NEWCOMER_QUERY)))
    assert reply.value is None


# ------------------------------------------------------------------------ ordering
def test_a_value_with_the_same_timestamp_as_the_held_one_is_dropped_as_bliss_does():
    us = Peer()
    record = us.open(Role.MIRROR)
    us.connect()
    assert delivered(us.receive(value_from(BLISS, 100.0, "first"))) == ["first"]
    assert delivered(us.receive(value_from("4343", 100.0, "tie"))) == []
    assert delivered(us.receive(value_from("4343", 99.0, "older"))) == []
    assert record.held is not None and record.held.value == "first"
    assert delivered(us.receive(value_from("4343", 100.5, "newer"))) == ["newer"]


def test_a_set_made_with_a_clock_behind_the_holder_s_still_replaces_its_value():
    us = Peer()
    record = us.open(Role.MIRROR)
    us.connect()
    us.receive(value_from(BLISS, us.clock.wall + 3600, "from a clock an hour ahead"))
    message = us.protocol.set_value(record, "ours", us.clock.now())
    assert message.timestamp > us.clock.wall + 3600  # stamped just after the held one
    assert record.held is message


def test_our_own_set_coming_back_from_redis_is_not_delivered_twice():
    us = Peer()
    record = us.open()
    us.connect()
    message = us.protocol.set_value(record, 3.0, us.clock.now())
    assert message.wire is not None
    assert us.receive(message.wire) == []
    assert us.protocol.stats.values == 0  # not even decoded


# ------------------------------------------------------------------------ asking again
def test_a_mirror_learns_the_default_of_a_process_that_joins_half_a_second_later():
    """BLISS never publishes a default: asked again once the newcomer's own query is over."""
    us = Peer()
    record = us.open(Role.MIRROR)
    query = us.join(subscribers=1)
    assert record.nobody_holds
    us.receive(encode_query(NAME, NEWCOMER_QUERY))  # a BLISS process opens the channel
    assert queries(us.tick(ASK_AGAIN_AFTER_A_NEWCOMER / 2)) == []
    (again,) = queries(us.tick(ASK_AGAIN_AFTER_A_NEWCOMER / 2))
    assert again.id != query.id and not is_join(again.id)
    us.protocol.published(again.id, 2, us.clock.now())
    default = encode_value(BLISS, us.clock.wall, "its default")
    assert delivered(us.receive(encode_reply(NAME, again.id, default))) == ["its default"]


def test_asking_again_is_not_taken_for_a_newcomer_so_two_mirrors_do_not_ask_each_other_for_ever():
    first, second = Peer(), Peer(protocol=protocol("2000"))
    for peer in (first, second):
        peer.open(Role.MIRROR)
        query = peer.join(subscribers=2)
        peer.receive(encode_reply(NAME, query.id, None))  # the other mirror holds nothing
    second_join = NEWCOMER_QUERY
    first.receive(encode_query(NAME, second_join))
    (again,) = queries(first.tick(ASK_AGAIN_AFTER_A_NEWCOMER))
    second.receive(encode_query(NAME, again.id))  # the second mirror hears it...
    assert queries(second.tick(10 * ASK_AGAIN_AFTER_A_NEWCOMER)) == []  # ...and stays quiet


def test_a_holder_that_dies_mid_query_is_asked_again_once_after_the_timeout():
    us = Peer()
    record = us.open(Role.MIRROR, timeout=2.0)
    query = us.join(subscribers=2)  # counts a holder that will never answer
    assert queries(us.tick(1.9)) == []
    (again,) = queries(us.tick(0.1))
    assert again.id != query.id
    us.protocol.published(again.id, 1, us.clock.now())  # Redis forgot the dead one
    assert record.nobody_holds
    assert queries(us.tick(60)) == []  # settled: no more asking


def test_answers_late_for_a_second_time_are_not_chased_for_ever():
    us = Peer()
    us.open(Role.MIRROR, timeout=2.0)
    us.join(subscribers=2)
    (again,) = queries(us.tick(2.0))
    us.protocol.published(again.id, 2, us.clock.now())  # still counted, still silent
    assert queries(us.tick(2.0)) == [] and queries(us.tick(60)) == []


def test_a_late_answer_is_still_taken():
    us = Peer()
    record = us.open(Role.MIRROR, timeout=2.0)
    query = us.join(subscribers=2)
    us.tick(2.5)
    held = encode_value(BLISS, us.clock.wall, "late but real")
    assert delivered(us.receive(encode_reply(NAME, query.id, held))) == ["late but real"]
    assert record.held is not None


@pytest.mark.parametrize(
    ("after", "asked"), [(REJOIN_WINDOW - 1, True), (REJOIN_WINDOW + 1, False)]
)
def test_after_reconnecting_a_process_rejoining_is_asked_again_even_when_we_hold_a_value(
    after, asked
):
    """A Redis restart cuts everyone: a holder rejoining soon after us may hold a value newer
    than ours (set while we were away). Long after, a newcomer only has its default. (A
    mirror asks every newcomer: see the mirror tests below.)"""
    us = Peer()
    record = us.open(Role.HOLDER)
    query = us.join(subscribers=2)
    us.receive(encode_reply(NAME, query.id, encode_value(BLISS, us.clock.wall, 1.0)))
    assert record.held is not None
    us.tick(after)
    us.receive(encode_query(NAME, NEWCOMER_QUERY))
    assert bool(queries(us.tick(ASK_AGAIN_AFTER_A_NEWCOMER))) is asked


# ------------------------------------------------------------------------ outages
def test_a_value_set_while_redis_is_unreachable_is_published_once_subscribed_again():
    us = Peer()
    record = us.open(query=False)  # Channel(name, value=...): nothing to ask
    us.connect()
    us.protocol.connection_lost()
    first = us.protocol.set_value(record, "before", us.clock.now())
    second = us.protocol.set_value(record, "during the outage", us.clock.now())
    assert us.protocol.take_unsent(us.clock.now()) == []  # nothing goes out while down
    us.connect()  # Redis is back
    assert us.protocol.take_unsent(us.clock.now()) == []  # heard back once subscribed
    us.subscribed()
    (publish,) = us.protocol.take_unsent(us.clock.now())
    assert publish.data == second.wire != first.wire  # the latest only
    assert us.protocol.take_unsent(us.clock.now()) == []  # handed out once


def test_a_failed_write_is_published_after_reconnecting_unless_a_newer_value_was_set():
    us = Peer()
    record = us.open(query=False)
    us.connect()
    first = us.protocol.set_value(record, 1, us.clock.now())
    taken = us.protocol.take_unsent(us.clock.now())
    us.protocol.connection_lost()  # the write failed: Redis got nothing
    us.protocol.publish_failed(taken)
    us.connect()
    us.subscribed()
    assert [p.data for p in us.protocol.take_unsent(us.clock.now())] == [first.wire]

    second = us.protocol.set_value(record, 2, us.clock.now())
    taken = us.protocol.take_unsent(us.clock.now())
    us.protocol.connection_lost()
    third = us.protocol.set_value(record, 3, us.clock.now())
    us.protocol.publish_failed(taken)  # 2 failed, but 3 was set since: 3 only
    us.connect()
    us.subscribed()
    assert [p.data for p in us.protocol.take_unsent(us.clock.now())] == [third.wire]
    assert second.wire != third.wire


def test_events_posted_while_connected_go_out_each_once_and_in_order():
    us = Peer()
    record = us.open(Role.EVENTS)
    us.connect()
    for event in ("a", 2, [3]):
        us.protocol.post(record, event)
        (publish,) = us.protocol.take_unsent(us.clock.now(), record)
        assert decode(publish.data).value == [event]
    assert us.subscribed() == []  # the confirmation sends nothing again
    assert us.protocol.take_unsent(us.clock.now()) == []


def test_a_confirmation_for_a_channel_never_subscribed_changes_nothing():
    us = Peer()
    record = us.open()
    (warning,) = us.subscribed()  # not connected: no SUBSCRIBE went out
    assert isinstance(warning, Warn) and record.phase is Phase.WAITING


def test_after_reconnecting_every_channel_asks_again_and_keeps_its_value_until_a_newer_one():
    us = Peer()
    record = us.open(Role.MIRROR)
    query = us.join(subscribers=2)
    us.receive(encode_reply(NAME, query.id, encode_value(BLISS, 100.0, "kept")))
    query = us.join(subscribers=3)  # reconnected: two holders asked again
    assert record.held is not None and record.held.value == "kept"
    older = encode_value(BLISS, 99.0, "older")
    assert delivered(us.receive(encode_reply(NAME, query.id, older))) == []
    newer = encode_value("4343", 101.0, "changed meanwhile")
    assert delivered(us.receive(encode_reply(NAME, query.id, newer))) == ["changed meanwhile"]


# ------------------------------------------------------------------------ mirrors
def mirror_holding(value: Any, subscribers: int = 2) -> tuple[Peer, ChannelRecord]:
    """A mirror that got ``value`` from a BLISS holder, with ``subscribers`` counted."""
    us = Peer()
    record = us.open(Role.MIRROR)
    query = us.join(subscribers=subscribers)
    us.receive(encode_reply(NAME, query.id, encode_value(BLISS, us.clock.wall - 1, value)))
    us.protocol.subscribers_seen({NAME: subscribers}, us.clock.now())
    us.clock.advance(REJOIN_WINDOW)  # long after connecting
    assert record.live
    return us, record


def nobody_holds(actions: list[Any]) -> bool:
    return any(isinstance(a, HoldersChanged) for a in actions)


def test_a_mirror_answers_no_one_with_a_value_it_only_shows():
    """A BLISS session starting later gets from us only what we set ourselves."""
    us, record = mirror_holding("MOVING")
    (reply,) = replies(us.receive(encode_query(NAME, NEWCOMER_QUERY)))
    assert reply.value is None
    us.protocol.set_value(record, "written here", us.clock.now())
    (reply,) = replies(us.receive(encode_query(NAME, "1123456789ab4def8123456789abcdef")))
    assert reply.value is not None and reply.value.value == "written here"
    us.receive(value_from(BLISS, us.clock.wall + 1, "newer, from BLISS"))
    (reply,) = replies(us.receive(encode_query(NAME, "2123456789ab4def8123456789abcdef")))
    assert reply.value is None  # not ours any more


def test_when_only_we_are_left_on_a_channel_nobody_holds_it_since_then():
    us, record = mirror_holding("MOVING")
    us.clock.advance(3)
    assert nobody_holds(us.protocol.subscribers_seen({NAME: 1}, us.clock.now()))
    assert not record.live and record.abandoned == us.clock.wall
    assert record.held is not None and record.held.value == "MOVING"  # the last value, shown


def test_a_subscriber_gone_makes_the_mirror_ask_who_still_holds_the_channel():
    us, record = mirror_holding("MOVING", subscribers=3)
    (query,) = queries(us.protocol.subscribers_seen({NAME: 2}, us.clock.now()))
    assert not is_join(query.id)
    us.protocol.published(query.id, 2, us.clock.now())
    assert nobody_holds(us.receive(encode_reply(NAME, query.id, None)))
    assert not record.live

    us, record = mirror_holding("READY", subscribers=3)
    (query,) = queries(us.protocol.subscribers_seen({NAME: 2}, us.clock.now()))
    us.protocol.published(query.id, 2, us.clock.now())
    still = encode_value(BLISS, us.clock.wall - 1, "READY")
    assert not nobody_holds(us.receive(encode_reply(NAME, query.id, still)))
    assert record.live


def test_a_count_asked_before_our_subscription_was_confirmed_is_not_taken():
    """The survey may ask while our SUBSCRIBE is on its way: that count lacks us. Taken, a
    holder leaving just after would leave the count unchanged (2 then 2), never noticed."""
    us = Peer()
    record = us.open(Role.MIRROR)
    asked = us.clock.now().monotonic  # BLISS and another mirror subscribed: 2, without us
    us.clock.advance(0.01)
    query = us.join(subscribers=3)
    us.receive(encode_reply(NAME, query.id, encode_value(BLISS, us.clock.wall - 1, "MOVING")))
    us.clock.advance(REJOIN_WINDOW)
    assert us.protocol.subscribers_seen({NAME: 2}, us.clock.now(), asked_at=asked) == []
    assert record.subscribers == 3  # not taken: the count our query's PUBLISH gave stands


def test_our_query_s_publish_count_is_a_count_a_holder_leaving_is_noticed_against():
    """A holder that dies before the survey's first look after our subscription: the count
    our own query's PUBLISH returned (us, the holder, another mirror) is the one to compare."""
    us = Peer()
    record = us.open(Role.MIRROR)
    query = us.join(subscribers=3)
    us.receive(encode_reply(NAME, query.id, encode_value(BLISS, us.clock.wall - 1, "MOVING")))
    us.clock.advance(REJOIN_WINDOW)
    assert record.subscribers == 3
    (again,) = queries(us.protocol.subscribers_seen({NAME: 2}, us.clock.now()))
    assert not is_join(again.id)


def test_a_new_session_s_default_replaces_what_a_killed_session_left():
    """Killed mid-move, a session leaves MOVING; the next one starts from its own default and
    publishes nothing: the mirror asks it, and shows that, not the dead session's MOVING."""
    us, record = mirror_holding("MOVING")
    us.receive(encode_query(NAME, NEWCOMER_QUERY))
    (again,) = queries(us.tick(ASK_AGAIN_AFTER_A_NEWCOMER))
    us.protocol.published(again.id, 2, us.clock.now())
    default = encode_value("5151", us.clock.wall, None)
    assert delivered(us.receive(encode_reply(NAME, again.id, default))) == [None]
    assert record.live and record.held is not None and record.held.sender_id == "5151"


def test_a_value_published_by_a_process_holding_nothing_is_checked():
    """clear_cache of an object nobody holds publishes its default: nobody holds it after."""
    us, record = mirror_holding("old")
    us.protocol.subscribers_seen({NAME: 1}, us.clock.now())
    assert not record.live
    assert delivered(us.receive(value_from("6262", us.clock.wall, "cleared"))) == ["cleared"]
    assert record.live
    (check,) = queries(us.tick(ASK_AGAIN_AFTER_A_NEWCOMER))
    assert nobody_holds(us.protocol.published(check.id, 1, us.clock.now()))
    assert not record.live and record.held is not None and record.held.value == "cleared"


def test_a_value_written_here_is_held_here_whoever_else_goes():
    us, record = mirror_holding("anything")
    us.protocol.set_value(record, "written", us.clock.now())
    assert not nobody_holds(us.protocol.subscribers_seen({NAME: 1}, us.clock.now()))
    assert record.live


def test_right_after_a_redis_restart_a_holder_not_back_yet_is_not_said_gone():
    """A Redis restart cuts everyone: the holders come back at their own pace (up to their
    backoff). Until REJOIN_WINDOW has passed, nobody answering is asked again later."""
    us, record = mirror_holding("READY")
    query = us.join(subscribers=1)  # we are back first
    assert not record.nobody_holds and record.live
    assert queries(us.tick(REJOIN_WINDOW / 2)) == []
    us.receive(encode_query(NAME, NEWCOMER_QUERY))  # the holder is back, and asks
    (again,) = queries(us.tick(ASK_AGAIN_AFTER_A_NEWCOMER))
    us.protocol.published(again.id, 2, us.clock.now())
    same = encode_value(BLISS, record.held.timestamp, "READY")
    assert not nobody_holds(us.receive(encode_reply(NAME, again.id, same)))
    assert record.live and query.id != again.id

    us, record = mirror_holding("MOVING")
    us.join(subscribers=1)  # back, and the holder never comes back (it died meanwhile)
    (late,) = queries(us.tick(REJOIN_WINDOW))
    assert nobody_holds(us.protocol.published(late.id, 1, us.clock.now()))
    assert not record.live


def test_a_mirror_hearing_values_is_not_said_unheld_by_a_count_of_one_it_asks():
    """A holder whose PUBLISH reached Redis before its SUBSCRIBE, or a count taken while it
    reconnects: values arriving mean someone is there."""
    us, record = mirror_holding("MOVING")
    us.receive(value_from(BLISS, us.clock.wall, "READY"))
    actions = us.protocol.subscribers_seen({NAME: 1}, us.clock.now())
    assert not nobody_holds(actions) and queries(actions) and record.live
    # Nothing since that count: now a count of one means nobody holds it.
    assert nobody_holds(us.protocol.subscribers_seen({NAME: 1}, us.clock.advance(2)))


def test_a_query_answered_without_values_while_values_arrive_asks_again():
    us = Peer()
    record = us.open(Role.MIRROR)
    query = us.join(subscribers=2)
    us.receive(value_from(BLISS, us.clock.wall, "published meanwhile"))
    assert not nobody_holds(us.receive(encode_reply(NAME, query.id, None)))
    assert record.live
    assert queries(us.tick(ASK_AGAIN_AFTER_A_NEWCOMER))  # asked again, not said unheld


def test_two_mirrors_nobody_holds_ask_each_other_once_then_redis_is_quiet():
    """Two devices watching a channel no BLISS process holds, on one fake Redis and one fake
    clock: each asks once more when the other joins, and then nothing more is ever sent."""
    clock = Clock()
    first, second = Peer(protocol("1000"), clock), Peer(protocol("2000"), clock)
    mirrors = [first.open(Role.MIRROR), second.open(Role.MIRROR)]
    sent: list[bytes] = []

    def redis(actions: list[Any], peer: Peer) -> None:
        """Publish what the protocols say to every subscriber (both), until nothing more."""
        waiting = [(peer, a) for a in actions]
        while waiting:
            sender, action = waiting.pop(0)
            if not isinstance(action, Publish):
                continue
            sent.append(action.data)
            for peer in (first, second):
                waiting += [(peer, a) for a in peer.receive(action.data)]
            if action.query is not None:
                waiting += [
                    (sender, a) for a in sender.protocol.published(action.query, 2, clock.now())
                ]

    first.connect()
    redis(first.subscribed(), first)  # alone: nobody answers, nobody holds
    second.connect()
    redis(second.subscribed(), second)  # the other joins: its query, our answer
    for _ in range(600):  # a minute, by 0.1 s
        clock.advance(0.1)
        for peer in (first, second):
            redis(peer.protocol.tick(clock.now()), peer)
    assert all(m.settled and m.held is None for m in mirrors)
    queries_sent = [q for q in map(decode, sent) if isinstance(q, Query)]
    assert len(queries_sent) <= 4  # two joins, each asked again once at most
    before = len(sent)
    for _ in range(600):
        clock.advance(0.1)
        for peer in (first, second):
            redis(peer.protocol.tick(clock.now()), peer)
    assert len(sent) == before  # quiet: not one query each per second, for ever

