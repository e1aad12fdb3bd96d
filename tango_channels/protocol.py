"""The BLISS channel protocol as a state machine: fed what arrived and the time, it says what to
send and what to deliver.

Like h11 or wsproto, :class:`ChannelProtocol` owns no socket, no thread and no clock: the bus
(:mod:`tango_channels.bus`) feeds it the messages its reader receives, the subscription
confirmations, the subscriber counts that ``PUBLISH`` returned, the connection's ups and downs
and the time (an :class:`Instant`), and carries out what it returns: :class:`Publish` commands
for the writer connection, ``SUBSCRIBE``/``UNSUBSCRIBE`` commands for the subscriber connection
and :class:`Deliver` actions (a channel has a new value: run its callbacks). Every rule that
makes us a correct BLISS participant lives here, and is tested with a fake clock.

The rules (BLISS 2.4's, and ours where BLISS loses data):

- **Join.** A channel opened without a value asks for it once its subscription is confirmed: a
  ``_Query`` whose ``PUBLISH`` count, minus ourselves, is the number of answers to wait for.
- **Answer.** Every query from another process gets a ``_Reply``: the held value, or ``None``.
  We never answer our own queries (they come back to us: we are subscribed).
- **Take.** A value (published, or in an answer) replaces the held one only if its timestamp is
  strictly newer. Our own sets come back too: recognised by their bytes, not decoded again.
- **Nobody holds.** When every counted process has answered without a value, a BLISS-like
  channel adopts its default; a *mirror* (the Tango device's channels) stays without a value.
- **Mirrors are invisible.** A mirror shows what BLISS processes hold and offers none of it:
  it answers every query with ``None``, unless the value was set here (a write through the
  device, held as a BLISS process holds what it set, until a newer value comes). So a BLISS
  session never gets from us a value that its own processes let go: when the last holder
  closes or dies, the data is gone, as without us.
- **Liveness of mirrors.** A mirror notices that nobody holds its channel any more, to show
  it: the bus reports subscriber counts (``PUBSUB NUMSUB``, every discovery period); when a
  channel's count drops, or only we are left, or a value came from a process that may not
  hold it (a plain publish), the holders are asked again, and a query that every other
  subscriber answers without a value means nobody holds it (:attr:`ChannelRecord.abandoned`).
  Never while values keep arriving: a value from another process since the last count (or
  since the query went out) means someone is there, so the holders are asked (again) instead
  of the channel being said unheld.
- **Ask again.** When answers are late (``LATE_ANSWERS``: a counted holder died mid-query),
  once; when another process joins a channel we have no value for (it will hold its default once
  its own query is over), ``ASK_AGAIN_AFTER_A_NEWCOMER`` later; a mirror asks a newcomer even if
  it has a value (the newcomer's default is newer than what a dead session left); and for
  ``REJOIN_WINDOW`` after we (re)connect, even if we hold a value (a process rejoining after the
  same Redis restart may hold a newer one). Asking again uses query ids that are not uuid4s, so
  that nobody takes them for a newcomer: two mirrors would otherwise ask each other for ever.
- **Trust.** A held value naming classes outside ``trusted_modules`` is answered as not held:
  BLISS would import and run those classes when decoding it.
- **Exactly once.** What this process sets or posts goes to Redis once, in order per channel:
  :meth:`ChannelProtocol.set_value` and :meth:`ChannelProtocol.post` put it in the channel's
  outbox, and :meth:`ChannelProtocol.take_unsent` hands each message out once, taking it out
  of the outbox (the caller writes what it took, in the order it took it, under its writer
  lock). Only a write that failed puts its messages back
  (:meth:`ChannelProtocol.publish_failed`). Nothing is ever re-derived from what a channel
  holds, so no interleaving of sets, posts, subscription confirmations, reconnections and
  publish results can send a message twice (``tests/test_protocol_model.py`` checks that
  over random interleavings).
- **Outages.** A value set while Redis is unreachable is published after reconnecting (BLISS
  loses it), once the channel's subscription is confirmed again (so that it is heard back, as
  every holder hears it): the latest one only, as it is what the channel holds. Events posted
  meanwhile are all published, in one message (up to ``MAX_PENDING_EVENTS``).

States
------
A channel's standing with Redis is one :class:`Phase`, and every legal move is one entry of
:data:`MOVES` (as h11 keeps its states in one table): opened ``WAITING`` for a connection,
``SUBSCRIBING`` once its ``Subscribe`` is handed out, ``SUBSCRIBED`` when Redis confirms it
(then it asks the holders), back to ``WAITING`` when the connection is lost, ``CLOSED`` for
good. A step that is not legal in a phase (a confirmation for a channel we never subscribed
on this connection) changes nothing and comes back as a :class:`Warn`.

The core does no I/O and keeps no clock: the caller passes the time, makes the query ids
(``new_id``, a uuid4 hex as BLISS makes them) and logs the :class:`Warn` actions it returns.

Thread-safety: none. The bus calls every method under one lock, and never holds it across I/O.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .wire.decode import DEFAULT_LIMITS, DecodeError, Limits, decode
from .wire.encode import EncodeError, encode_query, encode_reply, encode_value
from .wire.messages import Query, Reply, ValueMessage

__all__ = [
    "ASK_AGAIN_AFTER_A_NEWCOMER",
    "LATE_ANSWERS",
    "MAX_PENDING_EVENTS",
    "MOVES",
    "REJOIN_WINDOW",
    "SUBSCRIBE_CHUNK",
    "Action",
    "BusStats",
    "ChannelProtocol",
    "ChannelRecord",
    "Deliver",
    "HoldersChanged",
    "Instant",
    "Phase",
    "Publish",
    "QueryProgress",
    "Role",
    "Standing",
    "Step",
    "Subscribe",
    "Undecodable",
    "Unsubscribe",
    "Warn",
    "is_join",
]

# After another process queries a channel we have no value for, wait this long (its own query
# over, it holds a value) before asking again.
ASK_AGAIN_AFTER_A_NEWCOMER = 0.5
# For this long after we (re)connect, a process joining a channel we hold makes us ask again
# too: values published while we were away never reach us, and our own query on reconnecting
# missed the holders that were reconnecting themselves (a Redis restart cuts everyone).
REJOIN_WINDOW = 10.0
# Answers still missing this long after a query (or the channel's timeout, if shorter) mean
# that a counted holder died meanwhile: ask once more, well before a reader's timeout.
LATE_ANSWERS = 2.0
SUBSCRIBE_CHUNK = 500
MAX_PENDING_EVENTS = 10_000


class Instant(NamedTuple):
    """The time, as the caller's clocks say it: ``monotonic`` for timers, ``wall`` for the
    timestamps of values (BLISS stamps them with ``time.time()``)."""

    monotonic: float
    wall: float


class Role(enum.Enum):
    """How a channel takes part."""

    HOLDER = "holder"  # BLISS's Channel: adopts its default when nobody holds a value
    MIRROR = "mirror"  # reflects what holders say, never makes a value up
    EVENTS = "events"  # BLISS's EventChannel: lists of events, nothing held, nothing asked


class Phase(enum.Enum):
    """Where a channel stands with Redis (see "States" in the module docstring)."""

    WAITING = "waiting"  # not subscribed on the current connection (there may be none)
    SUBSCRIBING = "subscribing"  # its Subscribe handed out, not confirmed yet
    SUBSCRIBED = "subscribed"  # confirmed: its messages arrive
    CLOSED = "closed"


class Step(enum.Enum):
    """What moves a channel from one :class:`Phase` to another."""

    CONNECTED = "connected"  # the connection is (re)made: subscribe
    CONFIRMED = "confirmed"  # Redis confirmed the subscription
    DISCONNECTED = "disconnected"  # the connection is lost
    CLOSE = "close"  # the channel is closed


#: Every legal move: (phase, step) -> the next phase. Anything else changes nothing.
MOVES: dict[tuple[Phase, Step], Phase] = {
    (Phase.WAITING, Step.CONNECTED): Phase.SUBSCRIBING,
    (Phase.SUBSCRIBING, Step.CONFIRMED): Phase.SUBSCRIBED,
    # Subscribed twice on one connection (opened as the reader subscribed everything): Redis
    # confirms each SUBSCRIBE.
    (Phase.SUBSCRIBED, Step.CONFIRMED): Phase.SUBSCRIBED,
    (Phase.WAITING, Step.DISCONNECTED): Phase.WAITING,
    (Phase.SUBSCRIBING, Step.DISCONNECTED): Phase.WAITING,
    (Phase.SUBSCRIBED, Step.DISCONNECTED): Phase.WAITING,
    (Phase.WAITING, Step.CLOSE): Phase.CLOSED,
    (Phase.SUBSCRIBING, Step.CLOSE): Phase.CLOSED,
    (Phase.SUBSCRIBED, Step.CLOSE): Phase.CLOSED,
}


@dataclass(slots=True)
class QueryProgress:
    """Our latest query of a channel, as its answers come in."""

    id: str
    name: str
    deadline: float  # monotonic
    started: float = -math.inf  # monotonic
    expected: int | None = None  # known once PUBLISH has said how many subscribers heard it
    answered: int = 0
    got_value: bool = False
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Standing:
    """Whether anyone holds a channel, at one moment: what another thread may read of a
    :class:`ChannelRecord`, which only the protocol changes (under the bus's lock). Made by
    :meth:`ChannelProtocol.standing` under that lock, never changed after.

    ``held``: the value held (None before the first); ``live``: a process holds it now;
    ``abandoned``: since when (``time.time()``) nobody holds it, if nobody does (mirrors);
    ``settled``: the first value is known, or every holder answered without one;
    ``why_no_value``: why there is no value yet, for people ("" when there is one)."""

    held: ValueMessage | None
    live: bool
    abandoned: float | None
    settled: bool
    why_no_value: str


@dataclass(eq=False, slots=True)
class ChannelRecord:
    """What the protocol knows of one open channel. Channels read it; only the protocol
    changes it."""

    name: str
    role: Role
    sender_id: str  # the id our values of this channel carry
    timeout: float
    default: Any = None
    phase: Phase = Phase.WAITING
    held: ValueMessage | None = None
    nobody_holds: bool = False  # every holder answered, none with a value
    # MIRROR: when nobody held the channel any more (wall), the held value being the last one.
    abandoned: float | None = None
    local: bool = False  # MIRROR: the held value was set here (and is offered to others)
    subscribers: int | None = None  # MIRROR: the last subscriber count the bus reported
    query: QueryProgress | None = None  # the query under way (None once all answered)
    needs_query: bool = False
    wire_name: bytes = b""
    # Set or posted here and not handed out yet (see "Exactly once"): values, or events.
    # Lists: mostly empty, for thousands of channels (a deque weighs 600 bytes).
    outbox: list[ValueMessage] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    # Set or posted while Redis was unreachable: held back until the subscription is
    # confirmed on the new connection (see "Outages").
    held_back: bool = False
    heard_at: float = -math.inf  # monotonic: the last value from another process
    counted_at: float = -math.inf  # monotonic: the last subscriber count
    # monotonic: when Redis confirmed our subscription on this connection (inf: not yet); a
    # subscriber count asked before that does not count us (see subscribers_seen)
    confirmed_at: float = math.inf

    def __post_init__(self) -> None:
        self.wire_name = self.name.encode()

    @property
    def closed(self) -> bool:
        return self.phase is Phase.CLOSED

    @property
    def settled(self) -> bool:
        """Whether the first value is known: held, or every holder answered without one."""
        return self.held is not None or self.nobody_holds

    @property
    def live(self) -> bool:
        """Whether a process holds the value now (some process set or answered it, and no
        check since found nobody holding it)."""
        return self.held is not None and not self.nobody_holds

    @property
    def unsent(self) -> bool:
        """Whether something set or posted here waits to be handed out."""
        return bool(self.outbox or self.events)

    def wants_value(self) -> bool:
        """Whether asking the holders again could give this channel a value it lacks."""
        return self.role is not Role.EVENTS and self.held is None and not self.closed


class Publish(NamedTuple):
    """``PUBLISH data`` on ``channel`` (writer connection). Feed the subscriber count it
    returns back with :meth:`ChannelProtocol.published` when ``query`` is set. ``record`` is
    set when this carries what the process set (``message``) or posted (``events``) on it:
    given back to :meth:`ChannelProtocol.publish_failed` if the write failed."""

    channel: bytes
    data: bytes
    query: str | None = None
    record: ChannelRecord | None = None
    message: ValueMessage | None = None
    events: tuple[Any, ...] = ()


class Subscribe(NamedTuple):
    """``SUBSCRIBE`` these channels (subscriber connection)."""

    channels: tuple[bytes, ...]


class Unsubscribe(NamedTuple):
    """``UNSUBSCRIBE`` these channels (subscriber connection)."""

    channels: tuple[bytes, ...]


class Deliver(NamedTuple):
    """The channel of ``record`` holds a new value, ``message``: run its callbacks."""

    record: ChannelRecord
    message: ValueMessage


class HoldersChanged(NamedTuple):
    """Whether anyone holds the (mirror) channel of ``record`` changed without a new value:
    nobody holds it (a first query answered without a value, or the last holder gone:
    :attr:`ChannelRecord.abandoned` says when), or a holder answered again with the value
    already shown. ``standing`` is the channel's, made when it changed."""

    record: ChannelRecord
    standing: Standing


class Undecodable(NamedTuple):
    """A message of ``size`` bytes on channel ``name`` was dropped as undecodable."""

    name: str
    size: int
    error: str


class Warn(NamedTuple):
    """Something a person should know, to log as a warning (``message % args``). Warnings of
    one ``key`` may come in floods (thousands of late answers after a reconnect): the caller
    rate-limits them by key."""

    key: str
    message: str
    args: tuple[Any, ...] = ()


Action = Publish | Subscribe | Unsubscribe | Deliver | HoldersChanged | Undecodable | Warn


@dataclass
class BusStats:
    """Counters of what the bus saw: the protocol counts messages, the bus its callbacks and
    reconnections. Written by the reader only."""

    messages: int = 0
    values: int = 0
    queries_answered: int = 0
    decode_errors: int = 0
    callback_errors: int = 0
    reconnects: int = 0
    decode_errors_by_channel: dict[str, int] = field(default_factory=dict)


def is_join(query_id: str) -> bool:
    """Whether a query comes from a process joining the channel: asking again uses ids with
    version digit 0, which no uuid4 has (see "Ask again" in the module docstring)."""
    return not (len(query_id) == 32 and query_id[12] == "0")


class ChannelProtocol:
    """The protocol state of every channel of one process on one Redis server (see the module
    docstring). ``sender_id`` is the process's id on the wire (BLISS uses the pid); ``new_id``
    makes query ids (``uuid.uuid4().hex``, as BLISS)."""

    def __init__(
        self,
        sender_id: str,
        *,
        new_id: Callable[[], str],
        limits: Limits = DEFAULT_LIMITS,
        trusted_modules: tuple[str, ...] = ("bliss.",),
    ) -> None:
        self.sender_id = sender_id
        self.limits = limits
        self.trusted_modules = tuple(trusted_modules)
        self.stats = BusStats()
        self._new_id = new_id
        self._records: dict[str, ChannelRecord] = {}
        self._connected = False
        # Channels with something set or posted not handed out yet, in the order they had it.
        self._unsent: dict[ChannelRecord, None] = {}
        self._queries: dict[str, QueryProgress] = {}
        # Our own queries come back to us (we are subscribed); they may be answered and
        # forgotten before that echo arrives, so their ids are kept until it does.
        self._own_query_ids: set[str] = set()
        self._deadlines: list[tuple[float, str]] = []  # (monotonic, query id)
        self._ask_again_at: list[tuple[float, str]] = []  # (monotonic, channel name)
        # channel name -> (retries so far, ask even if a value is held, when: monotonic)
        self._asking_again: dict[str, tuple[int, bool, float]] = {}
        self._connected_at = -math.inf

    # ------------------------------------------------------------------ channels
    def open(
        self,
        name: str,
        role: Role,
        *,
        timeout: float,
        default: Any = None,
        sender_id: str | None = None,
        query: bool = True,
    ) -> tuple[ChannelRecord, list[Action]]:
        """A new channel: its record, and its ``Subscribe`` if connected (else
        :meth:`connection_made` subscribes it)."""
        record = ChannelRecord(
            name,
            role,
            sender_id or self.sender_id,
            timeout,
            default,
            needs_query=query and role is not Role.EVENTS,
        )
        if role is Role.EVENTS and sender_id is None:
            record.sender_id = f"{self.sender_id}_{id(record)}"  # as BLISS's "<pid>_<id(obj)>"
        self._records[name] = record
        if not self._connected:
            return record, []
        self._move(record, Step.CONNECTED)
        return record, [Subscribe((record.wire_name,))]

    def close(self, record: ChannelRecord) -> list[Action]:
        """Leave the channel: stop answering for it, forget its value and what it did not
        send, unsubscribe (unless the name was opened again meanwhile)."""
        if record.closed:
            return []
        subscribed = record.phase is not Phase.WAITING
        self._move(record, Step.CLOSE)
        record.held = None
        record.outbox.clear()
        record.events.clear()
        self._unsent.pop(record, None)
        if self._records.get(record.name) is not record:
            return []
        del self._records[record.name]
        return [Unsubscribe((record.wire_name,))] if subscribed else []

    def record(self, name: str) -> ChannelRecord | None:
        return self._records.get(name)

    def standing(self, record: ChannelRecord) -> Standing:
        """``record``'s standing now (see :class:`Standing`)."""
        held = record.held
        if held is not None:
            why = ""
        elif not self._connected:
            why = "not connected to Redis"
        elif record.nobody_holds:
            why = "no process holds a value"
        elif record.query is None:
            why = "not subscribed yet"
        elif record.query.expected is None:
            why = "query sent, no answer yet"
        else:
            why = f"{record.query.answered} of {record.query.expected} holders answered the query"
        return Standing(held, record.live, record.abandoned, record.settled, why)

    def names(self) -> list[str]:
        return sorted(self._records)

    # ------------------------------------------------------------------ local changes
    def set_value(self, record: ChannelRecord, value: Any, now: Instant) -> ValueMessage:
        """Hold ``value``, set by this process, and queue it for Redis (see
        :meth:`take_unsent`). Raises :class:`~tango_channels.wire.encode.EncodeError`."""
        timestamp = now.wall
        held = record.held
        if held is not None and timestamp <= held.timestamp:
            # Our clock is behind the holder's: BLISS would keep the old value silently.
            timestamp = math.nextafter(held.timestamp, math.inf)
        message = encode_value(record.sender_id, timestamp, value)
        record.held = message
        record.needs_query = False
        record.local = True
        record.nobody_holds = False
        record.abandoned = None
        if not self._connected:
            record.outbox.clear()  # an outage: only what the channel holds goes out after it
            record.held_back = True
        record.outbox.append(message)
        self._unsent[record] = None
        return message

    def post(self, record: ChannelRecord, event: Any) -> list[Action]:
        """Queue an event of an EVENTS channel (see :meth:`take_unsent`). Raises
        :class:`~tango_channels.wire.encode.EncodeError` for what cannot be sent."""
        encode_value(record.sender_id, 0.0, [event])  # refuse what cannot be sent, now
        actions: list[Action] = []
        if len(record.events) >= MAX_PENDING_EVENTS:
            del record.events[0]
            actions.append(
                Warn(
                    f"events:{record.name}",
                    "event channel %s: Redis unreachable, oldest event dropped",
                    (record.name,),
                )
            )
        record.events.append(event)
        record.held_back = record.held_back or not self._connected
        self._unsent[record] = None
        return actions

    def take_unsent(self, now: Instant, record: ChannelRecord | None = None) -> list[Publish]:
        """Hand out what was set or posted here and not handed out yet (of ``record``, or of
        every channel), in order, each message once: it leaves the outbox now. Nothing while
        disconnected. Write what this returns in its order, under the writer lock, and give
        it back to :meth:`publish_failed` if the write fails."""
        if not self._connected:
            return []
        if record is None:
            records = [r for r in self._unsent if not r.held_back]
        elif record in self._unsent and not record.held_back:
            records = [record]
        else:
            return []
        out: list[Publish] = []
        for channel in records:
            del self._unsent[channel]
            if channel.closed:
                continue
            messages, channel.outbox = channel.outbox, []
            for message in messages:
                assert message.wire is not None
                out.append(Publish(channel.wire_name, message.wire, None, channel, message))
            if channel.events:
                events = tuple(channel.events)
                channel.events.clear()
                bundle = encode_value(channel.sender_id, now.wall, list(events))
                assert bundle.wire is not None
                out.append(Publish(channel.wire_name, bundle.wire, None, channel, None, events))
        return out

    def publish_failed(self, publishes: Iterable[Publish]) -> None:
        """A write of what :meth:`take_unsent` handed out failed (the connection is being
        lost): put it back, to go out after reconnecting. Of values, the channel's latest
        only (an outage, see :meth:`set_value`); every event, before those posted since."""
        for publish in reversed(list(publishes)):
            record = publish.record
            if record is None or record.closed:
                continue
            if publish.message is not None:
                if not record.outbox:  # else superseded by a value set since
                    record.outbox.append(publish.message)
            else:
                record.events[:0] = publish.events
            record.held_back = True  # an outage: see "Outages"
            self._unsent[record] = None

    def update(self, record: ChannelRecord, *, timeout: float | None, default: Any) -> None:
        """What ``Channel(name, timeout=..., default_value=...)`` of an open channel changes."""
        if timeout is not None:
            record.timeout = timeout
        if default is not None:
            record.default = default

    # ------------------------------------------------------------------ connection
    def connection_made(self, now: Instant) -> list[Action]:
        """Connected (again): subscribe every channel, forget queries in flight and ask every
        channel again once its subscription is confirmed (held values are kept, replaced only
        by newer ones)."""
        self._connected = True
        self._connected_at = now.monotonic
        self._queries.clear()
        self._own_query_ids.clear()
        self._deadlines.clear()
        self._ask_again_at.clear()
        self._asking_again.clear()
        names = []
        for name in sorted(self._records):
            record = self._records[name]
            if record.phase is not Phase.WAITING:  # connection_lost was not said: say it now
                self._move(record, Step.DISCONNECTED)
            self._move(record, Step.CONNECTED)
            record.needs_query = record.role is not Role.EVENTS
            record.subscribers = None  # everyone is resubscribing: counts start again
            names.append(record.wire_name)
        return [
            Subscribe(tuple(names[start : start + SUBSCRIBE_CHUNK]))
            for start in range(0, len(names), SUBSCRIBE_CHUNK)
        ]

    def connection_lost(self) -> None:
        """The connection is lost: nothing is handed out until :meth:`connection_made`, and of
        the values waiting, each channel keeps its latest (see :meth:`set_value`)."""
        self._connected = False
        for record in self._records.values():
            self._move(record, Step.DISCONNECTED)
            record.confirmed_at = math.inf
            del record.outbox[:-1]
            record.held_back = record.held_back or record.unsent

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def has_unsent(self) -> bool:
        """Whether :meth:`take_unsent` may hand something out now."""
        return self._connected and any(not r.held_back for r in self._unsent)

    def unsent_channels(self) -> int:
        """How many channels have something set or posted here not handed out yet."""
        return sum(1 for record in self._unsent if not record.closed)

    # ------------------------------------------------------------------ what arrived
    def subscribed(self, raw_name: bytes, now: Instant) -> list[Action]:
        """Redis confirmed our subscription to ``raw_name``: ask its holders, if it needs to."""
        record = self._records.get(raw_name.decode("utf-8", "surrogateescape"))
        if record is None:
            return []
        before = record.phase
        first = record.phase is Phase.SUBSCRIBING
        if self._move(record, Step.CONFIRMED) is None:
            return [
                Warn(
                    "confirmation",
                    "channel %s: a subscription confirmed while %s: ignored",
                    (record.name, before.value),
                )
            ]
        if first:
            record.confirmed_at = now.monotonic
        record.held_back = False  # what was set during an outage may go now
        if not record.needs_query:
            return []
        record.needs_query = False
        return [self._start_query(record, now)]

    def received(self, raw_name: bytes, data: bytes, now: Instant) -> list[Action]:
        """A message on channel ``raw_name``."""
        self.stats.messages += 1
        name = raw_name.decode("utf-8", "surrogateescape")
        record = self._records.get(name)
        if record is not None:
            held = record.held
            if held is not None and held.wire == data and held.sender_id == record.sender_id:
                return []  # the value we just published, coming back: nothing to decode
        try:
            message = decode(data, self.limits)
        except DecodeError as exc:
            return self._undecodable(name, data, exc)
        if type(message) is ValueMessage:
            self.stats.values += 1
            if record is not None and message.sender_id != record.sender_id:
                record.heard_at = now.monotonic  # someone is there (see "Liveness")
            return self._take(record, message, now, answered=False)
        if type(message) is Query:
            return self._answer(record, raw_name, name, message, now)
        if type(message) is Reply:
            return self._on_reply(message, now)
        return []

    def published(self, query_id: str, subscribers: int, now: Instant) -> list[Action]:
        """``PUBLISH`` of our query ``query_id`` reached ``subscribers`` subscribers."""
        query = self._queries.get(query_id)
        if query is None:
            return []
        # PUBLISH counted every subscriber, ourselves included: we do not answer ourselves.
        query.expected = subscribers - 1
        record = self._records.get(query.name)
        if record is not None and record.role is Role.MIRROR and record.phase is Phase.SUBSCRIBED:
            # A subscriber count taken after our subscription: what a later count is compared
            # with (a holder that dies before the survey's next look is noticed by it).
            record.subscribers = subscribers
            record.counted_at = now.monotonic
        return self._check_query(query, now)

    def tick(self, now: Instant) -> list[Action]:
        """Run the timers: late answers, asking again."""
        actions: list[Action] = []
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now.monotonic:
            _, query_id = heapq.heappop(deadlines)
            # The query stays open: a late answer is still taken.
            query = self._queries.get(query_id)
            if query is None or query.got_value:
                continue
            # One key for every channel: after a reconnect thousands may be late at once.
            actions.append(
                Warn(
                    "late-answers",
                    "channel %s: %s of %s holders answered its query in time",
                    (query.name, query.answered, query.expected),
                )
            )
            if query.retries == 0:  # a holder may have died meanwhile: ask once more
                self._ask_again(query.name, 0.0, now, retries=1)
        while self._ask_again_at and self._ask_again_at[0][0] <= now.monotonic:
            when, name = heapq.heappop(self._ask_again_at)
            pending = self._asking_again.get(name)
            if pending is None or pending[2] != when:
                continue  # superseded by an earlier time (see _ask_again)
            retries, even_if_held, _ = self._asking_again.pop(name)
            record = self._records.get(name)
            if record is None or record.closed:
                continue
            if record.wants_value() or (even_if_held and record.role is not Role.EVENTS):
                actions.append(self._start_query(record, now, retries, again=True))
        return actions

    def subscribers_seen(
        self, counts: dict[str, int], now: Instant, asked_at: float | None = None
    ) -> list[Action]:
        """The subscriber counts of mirror channels, as ``PUBSUB NUMSUB`` gave them (asked
        at ``asked_at``, monotonic; None: now): a channel whose count dropped is asked again
        (a holder may have gone), one whose only subscriber is us is held by nobody (no need
        to ask). Returns the queries to publish.

        A count asked before Redis confirmed our own subscription may not count us: it is
        not taken (a holder that left just after it would leave the count unchanged, and
        never be noticed)."""
        asked = now.monotonic if asked_at is None else asked_at
        actions: list[Action] = []
        for name, count in counts.items():
            record = self._records.get(name)
            if record is None or record.role is not Role.MIRROR or count < 1:
                continue  # not ours, or not subscribed yet (count 0)
            if record.confirmed_at > asked:
                continue  # asked before our subscription was confirmed: we may be missing
            before, record.subscribers = record.subscribers, count
            heard = record.heard_at > record.counted_at  # a value came since the last count
            record.counted_at = now.monotonic
            if record.local or not record.live:
                continue
            if count == 1 and not heard:
                actions += self._nobody_holds(record, now)
            elif (count == 1 or (before is not None and count < before)) and (
                name not in self._asking_again
            ):
                actions.append(self._start_query(record, now, again=True))
        return actions

    def next_timer(self) -> float | None:
        """The monotonic time :meth:`tick` has something to do at (None: nothing waits)."""
        times = [heap[0][0] for heap in (self._deadlines, self._ask_again_at) if heap]
        return min(times) if times else None

    # ------------------------------------------------------------------ internals
    def _move(self, record: ChannelRecord, step: Step) -> Phase | None:
        """The one transition function: move ``record`` by ``step`` as :data:`MOVES` says;
        None (and no change) if the step is not legal in its phase."""
        phase = MOVES.get((record.phase, step))
        if phase is not None:
            record.phase = phase
        return phase

    def _undecodable(self, name: str, data: bytes, exc: DecodeError) -> list[Action]:
        self.stats.decode_errors += 1
        by_channel = self.stats.decode_errors_by_channel
        by_channel[name] = by_channel.get(name, 0) + 1
        return [
            Warn(
                f"decode:{name}",
                "channel %s: dropped an undecodable message of %d bytes: %s",
                (name, len(data), exc),
            ),
            Undecodable(name, len(data), str(exc)),
        ]

    def _take(
        self, record: ChannelRecord | None, message: ValueMessage, now: Instant, answered: bool
    ) -> list[Action]:
        """A value of another process (``answered``: in a reply, so it holds it), or ours
        coming back from a plain publish."""
        if record is None or record.closed:
            return []
        if record.role is not Role.EVENTS:
            if not message.is_newer_than(record.held):
                return []
            if record.role is Role.MIRROR and message.wire is not None:
                # A mirror never re-sends another process's value: its bytes are not kept
                # (10,000 mirrors of a device, a hundred bytes or more each).
                message = ValueMessage(
                    message.sender_id, message.timestamp, message.value, classes=message.classes
                )
            record.held = message
            record.local = False
            if record.nobody_holds:
                record.nobody_holds = False
                record.abandoned = None
                if record.role is Role.MIRROR and not answered:
                    # Published by whom? A plain publish (clear_cache, a stop request) holds
                    # nothing: ask who holds it now.
                    self._ask_again(record.name, ASK_AGAIN_AFTER_A_NEWCOMER, now, even_if_held=True)
        return [Deliver(record, message)]

    def _answer(
        self,
        record: ChannelRecord | None,
        raw_name: bytes,
        name: str,
        query: Query,
        now: Instant,
    ) -> list[Action]:
        if query.id in self._own_query_ids:
            self._own_query_ids.discard(query.id)
            return []  # our own query: we do not answer ourselves
        actions: list[Action] = []
        held: ValueMessage | None = None
        if record is not None:
            if is_join(query.id):
                if record.wants_value():
                    # Someone starts holding this channel: it will have a value (its default,
                    # which BLISS doesn't publish) once its own query is over. Ask it then.
                    self._ask_again(name, ASK_AGAIN_AFTER_A_NEWCOMER, now)
                elif (record.role is Role.MIRROR and not record.local) or (
                    now.monotonic - self._connected_at < REJOIN_WINDOW
                ):
                    self._ask_again(name, ASK_AGAIN_AFTER_A_NEWCOMER, now, even_if_held=True)
            if record.role is Role.EVENTS:
                held = encode_value(record.sender_id, now.wall, [])
            elif record.role is Role.MIRROR and not record.local:
                held = None  # shown here, never offered (see "Mirrors are invisible")
            else:
                held = record.held
        if held is not None:
            untrusted = sorted(c for c in held.classes if not c.startswith(self.trusted_modules))
            if untrusted:
                actions.append(
                    Warn(
                        f"untrusted:{name}",
                        "channel %s: not re-sending a value naming %s (outside the trusted "
                        "modules %s); answered as not held",
                        (name, ", ".join(untrusted[:3]), ", ".join(self.trusted_modules)),
                    )
                )
                held = None
        try:
            reply = encode_reply(name, query.id, held)
        except EncodeError as exc:
            actions.append(
                Warn(
                    f"resend:{name}",
                    "channel %s: cannot re-send the held value (%s); answering None",
                    (name, exc),
                )
            )
            reply = encode_reply(name, query.id, None)
        self.stats.queries_answered += 1
        actions.append(Publish(raw_name, reply))
        return actions

    def _on_reply(self, reply: Reply, now: Instant) -> list[Action]:
        query = self._queries.get(reply.id)
        if query is None:
            return []
        query.answered += 1
        actions: list[Action] = []
        if reply.value is not None:
            query.got_value = True
            record = self._records.get(query.name)
            actions += self._take(record, reply.value, now, answered=True)
            if not actions and record is not None and record.nobody_holds and record.held:
                # Held again, the value unchanged (a holder back after a Redis restart).
                record.nobody_holds = False
                record.abandoned = None
                actions.append(HoldersChanged(record, self.standing(record)))
        return actions + self._check_query(query, now)

    def _query_id(self, again: bool) -> str:
        """A query id. A first query (a process joining the channel) gets a uuid4 hex, as
        BLISS makes them; asking again gets the same with version digit 0, which no uuid4
        has (see :func:`is_join`)."""
        query_id = self._new_id()
        return f"{query_id[:12]}0{query_id[13:]}" if again else query_id

    def _start_query(
        self, record: ChannelRecord, now: Instant, retries: int = 0, again: bool = False
    ) -> Publish:
        query = QueryProgress(
            self._query_id(again),
            record.name,
            now.monotonic + min(record.timeout, LATE_ANSWERS),
            now.monotonic,
            retries=retries,
        )
        record.query = query
        self._queries[query.id] = query
        self._own_query_ids.add(query.id)
        heapq.heappush(self._deadlines, (query.deadline, query.id))
        return Publish(record.wire_name, encode_query(record.name, query.id), query=query.id)

    def _check_query(self, query: QueryProgress, now: Instant) -> list[Action]:
        if query.expected is None or query.answered < query.expected:
            return []
        self._queries.pop(query.id, None)
        record = self._records.get(query.name)
        if record is not None and record.query is query:
            record.query = None  # answered: nothing to say of it (10,000 of them at start)
        if record is None or query.got_value:
            return []
        # Nobody holds a value: the channel starts from its default, as in BLISS.
        if record.role is Role.MIRROR:
            if record.heard_at >= query.started and record.held is not None:
                # Values came meanwhile: someone is there (see "Liveness"). Ask again.
                self._ask_again(record.name, ASK_AGAIN_AFTER_A_NEWCOMER, now, even_if_held=True)
                return []
            return self._nobody_holds(record, now)
        if record.held is not None or record.closed:
            return []
        record.held = encode_value(record.sender_id, now.wall, record.default)
        return [Deliver(record, record.held)]

    def _nobody_holds(self, record: ChannelRecord, now: Instant) -> list[Action]:
        if record.local or record.nobody_holds:
            return []
        rejoining = REJOIN_WINDOW - (now.monotonic - self._connected_at)
        if rejoining > 0 and record.held is not None:
            # Just (re)connected: its holders may not have resubscribed yet (a Redis restart
            # cuts everyone). Ask once they had the time to, before saying nobody holds it.
            self._ask_again(record.name, rejoining, now, even_if_held=True)
            return []
        record.nobody_holds = True
        if record.held is not None:
            record.abandoned = now.wall
        return [HoldersChanged(record, self.standing(record))]

    def _ask_again(
        self,
        name: str,
        delay: float,
        now: Instant,
        retries: int = 0,
        even_if_held: bool = False,
    ) -> None:
        """Query channel ``name`` again in ``delay`` seconds if it still has no value (or
        anyway, ``even_if_held``); one question at a time, at the earliest time asked for."""
        when = now.monotonic + delay
        pending = self._asking_again.get(name)
        if pending is not None:
            retries = pending[0]
            even_if_held = even_if_held or pending[1]
            if pending[2] <= when:
                self._asking_again[name] = (retries, even_if_held, pending[2])
                return
        heapq.heappush(self._ask_again_at, (when, name))
        self._asking_again[name] = (retries, even_if_held, when)
