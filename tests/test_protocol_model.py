"""Every set and every post reaches Redis once, in order, over random interleavings.

A hypothesis state machine drives the protocol core as the bus does, and as the bus's threads
may interleave: a poster sets or posts (under the lock) and writes later; the reader takes a
subscription confirmation, a value, a query or an answer from other processes, and writes
what that called for later; the connection is lost (writes fail), comes back, subscriptions
are confirmed; time passes. What reaches Redis is checked against a simple model:

- no message we set or posted is written twice, and each channel's go out in the order they
  were set or posted;
- nothing is handed out for a channel once it is closed;
- after everything is let out (connected, confirmed, every writer done), every event posted
  on an open channel has been written, and every value set, except values overtaken by a
  newer set of the same channel across an outage (where BLISS would have lost them all, we
  send the latest).

The bus takes what it writes from the protocol under its writer lock and writes it before
letting go: here one write is in flight at a time, between its take and its result, while the
other threads go on setting, posting and reading.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tango_channels.protocol import (
    ChannelProtocol,
    ChannelRecord,
    Instant,
    Publish,
    Role,
    Subscribe,
)
from tango_channels.wire.decode import decode
from tango_channels.wire.encode import encode_query, encode_reply, encode_value
from tango_channels.wire.messages import ValueMessage

CHANNELS = {"ev": Role.EVENTS, "h": Role.HOLDER, "m": Role.MIRROR}
OTHER = "4242"  # another process's sender id
names = st.sampled_from(sorted(CHANNELS))


@dataclass
class Sent:
    """What one open channel of ours set or posted, and what Redis got of it."""

    record: ChannelRecord
    values: list[int] = field(default_factory=list)  # set here, in order
    lost_to_outage: set[int] = field(default_factory=set)  # set before or during an outage
    events: list[int] = field(default_factory=list)  # posted here, in order
    on_redis: list[int] = field(default_factory=list)  # values or events, as written


class ExactlyOnce(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        ids = itertools.count(1)
        self.protocol = ChannelProtocol("1000", new_id=lambda: f"{next(ids):012x}4{0:019x}")
        self.monotonic, self.wall = 1000.0, 1.7e9
        self.link_up = False  # whether Redis takes writes (the bus may not know yet)
        self.channels: dict[str, Sent] = {}
        self.closed: list[ChannelRecord] = []
        self.confirmations: list[bytes] = []  # SUBSCRIBEs Redis will confirm
        self.reader_out: list[Publish] = []  # computed by the reader, not written yet
        self.in_flight: list[Publish] | None = None  # taken under the writer lock
        self.poster_owes: set[str] = set()  # channels whose setter has not written yet
        self.our_queries: list[str] = []
        self.counter = itertools.count()

    def now(self, seconds: float = 0.001) -> Instant:
        self.monotonic += seconds
        self.wall += seconds
        return Instant(self.monotonic, self.wall)

    # ------------------------------------------------------------ the bus's writes
    def take(self, publishes: list[Publish]) -> None:
        """The writer lock taken, what to write taken: the write is in flight."""
        assert self.in_flight is None
        for publish in publishes:
            closed = publish.record is not None and publish.record.closed
            assert not closed, f"handed out for closed {publish.record.name}"
        self.in_flight = publishes

    @precondition(lambda self: self.in_flight is not None)
    @rule()
    def write_done(self) -> None:
        """One pipelined round trip: Redis gets all of it, or (link down) none of it."""
        assert self.in_flight is not None
        publishes, self.in_flight = self.in_flight, None
        if not self.link_up:
            self.protocol.publish_failed(publishes)
            return
        for publish in publishes:
            if publish.query is not None:
                self.our_queries.append(publish.query)
                self.protocol.published(publish.query, 2, self.now())
            sent = self.channels.get(publish.record.name) if publish.record else None
            if sent is None or sent.record is not publish.record:
                continue  # not ours, or taken before its channel closed
            message = decode(publish.data)
            assert isinstance(message, ValueMessage)
            if publish.record.role is Role.EVENTS:
                sent.on_redis += message.value
            else:
                sent.on_redis.append(message.value)

    def take_actions(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Publish):
                self.reader_out.append(action)
            elif isinstance(action, Subscribe) and self.link_up:
                self.confirmations += action.channels

    # ------------------------------------------------------------ our channels
    @initialize()
    def connected_with_every_channel_open(self) -> None:
        """As a BLISS session is: connected, holding channels (a poster already connected)."""
        self.reconnects()
        for name in CHANNELS:
            self.open(name, query=True)

    @rule(name=names, query=st.booleans())
    def open(self, name: str, query: bool) -> None:
        if name in self.channels:
            return
        record, actions = self.protocol.open(name, CHANNELS[name], timeout=10.0, query=query)
        self.channels[name] = Sent(record)
        self.take_actions(actions)

    @rule(name=names)
    def close(self, name: str) -> None:
        sent = self.channels.pop(name, None)
        if sent is not None:
            self.protocol.close(sent.record)
            self.closed.append(sent.record)
            self.poster_owes.discard(name)

    @rule(name=names)
    def set_or_post(self, name: str) -> None:
        sent = self.channels.get(name)
        if sent is None:
            return
        item = next(self.counter)
        if sent.record.role is Role.EVENTS:
            self.protocol.post(sent.record, item)
            sent.events.append(item)
        else:
            self.protocol.set_value(sent.record, item, self.now())
            sent.values.append(item)
            if not self.link_up:
                sent.lost_to_outage.add(item)
        self.poster_owes.add(name)

    @precondition(lambda self: self.in_flight is None and bool(self.poster_owes))
    @rule(data=st.data())
    def a_poster_writes(self, data: st.DataObject) -> None:
        self.poster_writes(data.draw(st.sampled_from(sorted(self.poster_owes))))

    def poster_writes(self, name: str) -> None:
        """``send_unsent``: only while the bus believes it is connected."""
        self.poster_owes.discard(name)
        if self.protocol.connected:
            self.take(self.protocol.take_unsent(self.now(), self.channels[name].record))

    # ------------------------------------------------------------ the reader
    @precondition(lambda self: self.in_flight is None)
    @rule()
    def reader_writes(self) -> None:
        """After a batch: its answers and queries, with whatever waits to be sent."""
        out, self.reader_out = self.reader_out, []
        self.take(out + self.protocol.take_unsent(self.now()))

    @precondition(lambda self: bool(self.confirmations))
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        raw = self.confirmations.pop(data.draw(st.integers(0, len(self.confirmations) - 1)))
        self.take_actions(self.protocol.subscribed(raw, self.now()))

    @rule(name=names, newer=st.booleans(), value=st.integers(-5, 5))
    def value_from_another_process(self, name: str, newer: bool, value: int) -> None:
        message = encode_value(OTHER, self.wall + (1.0 if newer else -1.0), value)
        assert message.wire is not None
        self.take_actions(self.protocol.received(name.encode(), message.wire, self.now()))

    @rule(name=names, join=st.booleans())
    def query_from_another_process(self, name: str, join: bool) -> None:
        version = "4" if join else "0"  # a newcomer's uuid4, or someone asking again
        query_id = f"0123456789ab{version}def8123456789abcdef"
        data = encode_query(name, query_id)
        self.take_actions(self.protocol.received(name.encode(), data, self.now()))

    @precondition(lambda self: bool(self.our_queries))
    @rule(data=st.data(), with_value=st.booleans())
    def answer_to_our_query(self, data: st.DataObject, with_value: bool) -> None:
        query_id = data.draw(st.sampled_from(self.our_queries))
        for name in CHANNELS:
            value = encode_value(OTHER, self.wall - 0.5, "answered") if with_value else None
            reply = encode_reply(name, query_id, value)
            self.take_actions(self.protocol.received(name.encode(), reply, self.now()))

    @rule(count=st.integers(1, 3))
    def subscriber_counts(self, count: int) -> None:
        counts = {name: count for name in self.channels}
        self.take_actions(self.protocol.subscribers_seen(counts, self.now()))

    @rule(seconds=st.sampled_from([0.1, 0.6, 2.5, 11.0]))
    def time_passes(self, seconds: float) -> None:
        self.take_actions(self.protocol.tick(self.now(seconds)))

    # ------------------------------------------------------------ the connection
    @rule()
    def link_breaks(self) -> None:
        """Redis goes away: writes fail before the reader notices."""
        self.link_up = False
        self.confirmations.clear()
        for sent in self.channels.values():
            sent.lost_to_outage.update(sent.values)

    @rule()
    def reader_notices(self) -> None:
        if not self.link_up and self.protocol.connected:
            self.protocol.connection_lost()
            self.reader_out.clear()  # the reader's batch died with its connection

    @rule()
    def reconnects(self) -> None:
        if self.link_up or self.protocol.connected:
            return
        self.link_up = True
        self.take_actions(self.protocol.connection_made(self.now()))

    # ------------------------------------------------------------ checks
    @invariant()
    def nothing_twice_and_in_order(self) -> None:
        for sent in self.channels.values():
            assert len(sent.on_redis) == len(set(sent.on_redis)), f"twice: {sent.on_redis}"
            assert sent.on_redis == sorted(sent.on_redis), f"out of order: {sent.on_redis}"

    @rule()
    def everything_let_out(self) -> None:
        """Connected, every subscription confirmed, every writer done: all is on Redis."""
        if self.in_flight is not None:
            self.write_done()
        self.reader_notices()
        self.reconnects()
        while self.confirmations:
            self.take_actions(self.protocol.subscribed(self.confirmations.pop(), self.now()))
        for name in list(self.poster_owes):
            self.poster_writes(name)
            self.write_done()
        self.reader_writes()
        self.write_done()
        for name, sent in self.channels.items():
            if sent.record.role is Role.EVENTS:
                assert sent.on_redis == sent.events, f"{name}: {sent.on_redis} != {sent.events}"
                continue
            owed = [v for v in sent.values if v not in sent.lost_to_outage]
            owed += sent.values[-1:]  # the latest goes out after an outage
            missing = set(owed) - set(sent.on_redis)
            assert not missing, f"{name}: values never sent: {sorted(missing)}"


ExactlyOnce.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, database=None
)
test_every_set_and_post_reaches_redis_once_in_order = ExactlyOnce.TestCase
