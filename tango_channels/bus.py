"""The bus: all channels of a process on one Redis server, through two connections.

The protocol's rules live in :mod:`tango_channels.protocol`, a state machine without I/O; the
bus is its driver. It owns the connections, the reader task and the clocks, feeds the protocol
what arrives and carries out what it says.

Concurrency model
-----------------
A :class:`Bus` owns exactly two Redis connections (:mod:`tango_channels.transport`) and one
task:

- the **subscriber connection** is read by a single task, the *reader* (a daemon thread, or a
  greenlet in a gevent-patched process, see :mod:`tango_channels.transport.runtime`). It feeds
  every message to the protocol, delivers new values (runs channel callbacks), and publishes
  the protocol's answers and queries. Callbacks of received values therefore run in the
  reader: they must be short, and must not wait for the first value of a channel (that value
  could only arrive through the reader they are blocking; :attr:`Channel.value` raises instead
  of deadlocking). Other tasks only *write* ``SUBSCRIBE``/``UNSUBSCRIBE`` on it, under
  ``_sub_lock``.
- the **writer connection** carries every ``PUBLISH`` (values set by any thread, replies,
  queries) and ``PUBSUB`` commands, one round trip at a time under ``_write_lock``: writes are
  serialised.
- the protocol state is guarded by ``_lock``, a plain lock held only while the protocol
  computes (never across I/O, never while a callback runs); it may be taken inside the two
  I/O locks, never the other way round.

The reader reads with a timeout, never a bare blocking read: when the connection has been quiet
for ``health_interval`` seconds it sends a ``PING``, and declares the connection dead when nothing
at all comes back within ``health_timeout`` (a paused or half-open server). On any connection
error it reconnects with exponential backoff and jitter, and the protocol resubscribes every
channel, queries them all again and publishes values set while Redis was unreachable.
:attr:`Bus.state` and :meth:`Bus.add_state_listener` make this visible. A Redis server that is
down when the bus starts is just the first of these retries: nothing hangs, and reading a
channel's value times out with an error saying so.

Messages are read in batches (everything already received, one ``recv``), and the publishes
a batch calls for (answers, queries) go in one pipelined round trip.

What this process sets or posts is published by the thread that set it (as BLISS does), or by
the reader when that could not be done (Redis was unreachable, the write failed): whoever
writes takes the messages from the protocol (:meth:`ChannelProtocol.take_unsent
<tango_channels.protocol.ChannelProtocol.take_unsent>`) under ``_write_lock`` and writes them
before letting go of it, so each goes out once and in order, whichever thread gets there first.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import os
import random
import socket
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

from .protocol import (
    SUBSCRIBE_CHUNK,
    Action,
    BusStats,
    ChannelProtocol,
    ChannelRecord,
    Deliver,
    HoldersChanged,
    Instant,
    Publish,
    Role,
    Standing,
    Subscribe,
    Undecodable,
    Unsubscribe,
    Warn,
)
from .transport.address import RedisAddress, resolve
from .transport.connection import Connection, ConnectionFactory
from .transport.resp import RedisError, RespConnection
from .transport.runtime import current_runtime
from .wire.decode import DEFAULT_LIMITS, Limits
from .wire.encode import encode_value
from .wire.messages import ValueMessage

__all__ = ["Bus", "BusStats", "ConnectionState", "Participant"]

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (ConnectionError, TimeoutError, OSError, RedisError)
# A connection lost sooner than this after it was made counts as a failed attempt: the next
# one waits its backoff (a server that cuts us at once, or a bug of ours on the first batch,
# must not become a tight reconnect loop).
STABLE_CONNECTION = 1.0
WARNING_PERIOD = 10.0  # seconds between two warnings of one kind about one channel


class ConnectionState(enum.Enum):
    """Where the bus stands with its Redis server."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


class Participant(Protocol):
    """What the bus needs of a channel object: a name, and somewhere to deliver its values.

    Everything else the bus and the protocol know of a channel is in its
    :class:`~tango_channels.protocol.ChannelRecord`, which the channel reads."""

    @property
    def name(self) -> str: ...

    def deliver(self, message: ValueMessage) -> None:
        """A new value (already held by the record): run the callbacks. In the reader."""

    def holders_changed(self, standing: Standing) -> None:
        """Whether anyone holds the channel changed, its value did not (a mirror's; see
        :class:`~tango_channels.protocol.HoldersChanged`), as ``standing`` says. In the reader,
        or in the thread that called :meth:`Bus.subscribers_seen`."""


P = TypeVar("P", bound=Participant)


class _Backoff:
    """Exponential backoff with jitter: 50 ms doubling up to ``cap`` seconds."""

    def __init__(self, cap: float = 2.0) -> None:
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap, 0.05 * 2.0**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


def _now() -> Instant:
    return Instant(time.monotonic(), time.time())


class RateLimitedWarnings:
    """One warning per key per ``WARNING_PERIOD`` (of the caller's clock), with the count of
    those not shown."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, now: float, key: str, message: str, *args: Any) -> None:
        last, hidden = self._last.get(key, (-math.inf, 0))
        if now - last < WARNING_PERIOD:
            self._last[key] = (last, hidden + 1)
            return
        if hidden:
            message += f" ({hidden} similar messages not logged)"
        self._last[key] = (now, 0)
        self._log.warning(message, *args)


class _Reference(weakref.ref[Participant]):
    """A weak reference to a live channel object that knows its record. When the object is
    collected, the callback queues the reference; the reader then closes the record. One
    small object per channel, where a ``WeakValueDictionary`` entry and a
    ``weakref.finalize`` made several hundred bytes."""

    __slots__ = ("record",)

    def __new__(
        cls,
        participant: Participant,
        callback: Callable[[_Reference], None],
        record: ChannelRecord,
    ) -> _Reference:
        return super().__new__(cls, participant, callback)

    def __init__(
        self,
        participant: Participant,
        callback: Callable[[_Reference], None],
        record: ChannelRecord,
    ) -> None:
        # weakref.ref's own __init__ only checks its arguments (__new__ made the reference).
        self.record = record


class Bus:
    """All the channels of this process on one Redis server (see the module docstring).

    ``redis`` is a URL, a ``redis.Redis`` client (only its address is used), a
    :class:`~tango_channels.transport.address.RedisAddress`, or ``None`` for the default
    resolution (``BEACON_HOST``, then ``REDIS_URL``, then localhost). ``timeout`` bounds every
    Redis round trip and connection attempt. ``trusted_modules``: a held value naming classes
    (kept as :class:`~tango_channels.wire.opaque.Opaque`) is re-sent in answer to a query only
    if every one of them is under these module prefixes; BLISS would import and run them when
    decoding it, and whoever can publish on Redis chooses them. ``reader_context`` is entered
    by the reader task around its whole life: the Tango device passes ``tango.EnsureOmniThread``
    so that the events it pushes from channel callbacks come from a thread omniORB knows.
    ``connection`` makes the connections (see :mod:`tango_channels.transport.connection`).
    """

    def __init__(
        self,
        redis: Any = None,
        *,
        timeout: float = 2.0,
        health_interval: float = 0.5,
        health_timeout: float = 1.5,
        limits: Limits = DEFAULT_LIMITS,
        client_name: str | None = None,
        reader_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        trusted_modules: tuple[str, ...] = ("bliss.",),
        connection: ConnectionFactory = RespConnection,
    ) -> None:
        self.address: RedisAddress = resolve(redis)
        self.sender_id = str(os.getpid())
        self.timeout = timeout
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.limits = limits
        self.trusted_modules = tuple(trusted_modules)
        self.client_name = client_name or f"tango-channels:{socket.gethostname()}:{os.getpid()}"
        self.runtime = current_runtime()
        self._protocol = ChannelProtocol(
            self.sender_id,
            new_id=lambda: uuid.uuid4().hex,
            limits=limits,
            trusted_modules=self.trusted_modules,
        )
        self.stats: BusStats = self._protocol.stats

        self._state = ConnectionState.CONNECTING
        self.last_error: str | None = None
        self.disconnected_since: float | None = None
        self._state_listeners: list[Callable[[ConnectionState, str | None], None]] = []
        self._decode_error_listeners: list[Callable[[str, str], None]] = []

        self._lock = threading.Lock()  # the protocol and the participants; never across I/O
        self._sub_lock = self.runtime.io_lock()  # writes on the subscriber connection
        self._write_lock = self.runtime.io_lock()  # the writer connection
        # name -> the live channel object, weakly (see _Reference); under _lock.
        self._participants: dict[str, _Reference] = {}
        self._released: deque[_Reference] = deque()  # those whose channel was collected
        self._on_collected = self._released.append  # one bound method for every reference
        # Subscriptions held back to go together (see subscriptions_together), under _sub_lock.
        self._together = 0
        self._held_subscriptions: list[bytes] = []
        self._connected_at = -math.inf  # time.monotonic() of the last (re)connection
        self._connection = connection
        self._sub: Connection | None = None
        self._writer = self._new_connection()
        self._closed = False
        self._wakeup = self.runtime.event()
        self._warn = RateLimitedWarnings(log)
        self._reader_id: int | None = None
        self._reader_context = reader_context or contextlib.nullcontext
        self._reader = self.runtime.spawn(self._run, name=f"tango-channels reader {self.address}")

    # ---------------------------------------------------------------- public
    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state is ConnectionState.CONNECTED

    def describe_state(self) -> str:
        """One line for people: the state, since when, and the last error."""
        if self._state is ConnectionState.CONNECTED:
            return f"connected to Redis at {self.address}"
        if self._state is ConnectionState.CLOSED:
            return f"closed (Redis at {self.address})"
        since = self.disconnected_since
        when = time.strftime(" since %H:%M:%S", time.localtime(since)) if since else ""
        error = f" ({self.last_error})" if self.last_error else ""
        return f"Redis at {self.address} unreachable{when}{error}, retrying"

    def add_state_listener(self, fn: Callable[[ConnectionState, str | None], None]) -> None:
        """Call ``fn(state, last_error)`` at every change of :attr:`state` (in the reader)."""
        self._state_listeners.append(fn)

    def remove_state_listener(self, fn: Callable[[ConnectionState, str | None], None]) -> None:
        self._state_listeners.remove(fn)

    def add_decode_error_listener(self, fn: Callable[[str, str], None]) -> None:
        """Call ``fn(channel_name, error)`` (in the reader) for each message dropped as
        undecodable on a channel of this bus."""
        self._decode_error_listeners.append(fn)

    def in_reader(self) -> bool:
        """Whether the caller is this bus's reader (where callbacks of received values run)."""
        return self._reader_id == self.runtime.current()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected (polling; for start-up and tests)."""
        deadline = time.monotonic() + timeout
        while not self.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connected

    def publish(self, name: str, value: Any) -> int:
        """Publish ``value`` on channel ``name`` as this process, without holding the channel.

        Every holder takes it (if newer than what it holds) and calls its callbacks. Returns
        the number of subscribers that received it. Raises ``ConnectionError`` when Redis is
        unreachable.
        """
        msg = encode_value(self.sender_id, time.time(), value)
        assert msg.wire is not None
        return int(self.execute(("PUBLISH", name.encode(), msg.wire))[0])

    def live_channels(self, pattern: str = "*") -> list[str]:
        """Names of the channels that have subscribers on the server (``PUBSUB CHANNELS``)."""
        names = self.execute(("PUBSUB", "CHANNELS", pattern.encode()))[0]
        return sorted(n.decode("utf-8", "surrogateescape") for n in names)

    def execute(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Run ``commands`` in one pipelined round trip on the writer connection (``PUBSUB``,
        ``HGETALL``, ``SCAN``...) and return their replies. Raises ``ConnectionError``,
        ``TimeoutError`` or :class:`~tango_channels.transport.resp.RedisError`."""
        with self._write_lock:
            return self._writer_call(*commands)

    def subscribers_seen(self, counts: dict[str, int], asked_at: float | None = None) -> None:
        """Tell the protocol how many subscribers (``PUBSUB NUMSUB``, asked at ``asked_at``, a
        ``time.monotonic()``; None: now) mirror channels have: those whose count dropped are
        asked who holds them (see
        :meth:`~tango_channels.protocol.ChannelProtocol.subscribers_seen`)."""
        with self._lock:
            actions = self._protocol.subscribers_seen(counts, _now(), asked_at)
        self._carry_out(actions)

    def pending_values(self) -> int:
        """How many channels have a value set here that Redis has not received yet."""
        with self._lock:
            return self._protocol.unsent_channels()

    def close(self) -> None:
        """Stop the reader and close both connections. Channels stop receiving."""
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        with self._sub_lock:
            if self._sub is not None:
                self._sub.close()
        with self._write_lock:
            self._writer.close()
        if self._reader_id != self.runtime.current():
            self._reader.join(timeout=2 * self.timeout)
        self._set_state(ConnectionState.CLOSED)

    def __repr__(self) -> str:
        return f"<Bus {self.address} {self._state.value}, {len(self._participants)} channels>"

    # --------------------------------------------------- for channel objects
    def join(
        self,
        name: str,
        kind: type[P],
        create: Callable[[ChannelRecord], P],
        role: Role,
        *,
        timeout: float,
        default: Any = None,
        query: bool = True,
    ) -> P:
        """The live channel object of ``name`` in this process: the existing one, or a new one
        made by ``create(record)`` and subscribed. ``kind`` is its class (a name is one kind of
        channel in a process)."""
        if self._closed:
            raise RuntimeError(f"bus for Redis at {self.address} is closed")
        with self._lock:
            existing = self._participant(name)
            if existing is not None:
                if type(existing) is not kind:
                    raise TypeError(
                        f"channel {name!r} is already open as a {type(existing).__name__} "
                        f"in this process"
                    )
                return existing
            record, actions = self._protocol.open(
                name, role, timeout=timeout, default=default, query=query
            )
            participant = create(record)
            # A channel nobody references any more is unsubscribed by the reader (the
            # reference's callback may run in any thread, at any allocation: it only queues).
            self._participants[name] = _Reference(participant, self._on_collected, record)
        self._carry_out(actions)
        return participant

    def leave(self, participant: Participant, record: ChannelRecord) -> None:
        """``participant`` closes its channel: unsubscribe, forget its value."""
        with self._lock:
            if self._participant(record.name) is participant:
                del self._participants[record.name]
            actions = self._protocol.close(record)
        self._carry_out(actions)

    def standing(self, record: ChannelRecord) -> Standing:
        """``record``'s standing now, made under the lock (for a thread other than the
        reader: see :class:`~tango_channels.protocol.Standing`)."""
        with self._lock:
            return self._protocol.standing(record)

    def update(self, record: ChannelRecord, *, timeout: float | None, default: Any) -> None:
        with self._lock:
            self._protocol.update(record, timeout=timeout, default=default)

    def set_value(self, record: ChannelRecord, value: Any) -> ValueMessage:
        """Hold ``value`` as set by this process, and queue it (publish it with
        :meth:`send_unsent`)."""
        if record.closed:
            raise RuntimeError(f"Channel {record.name} is closed")
        with self._lock:
            return self._protocol.set_value(record, value, _now())

    def post(self, record: ChannelRecord, event: Any) -> None:
        """Queue an event (publish it with :meth:`send_unsent`)."""
        with self._lock:
            actions = self._protocol.post(record, event)
        self._carry_out(actions)

    def send_unsent(self, record: ChannelRecord) -> bool:
        """Publish what was set or posted on ``record``'s channel and not sent yet (each
        message once, whichever thread gets there first); False if Redis is unreachable (the
        reader publishes it after reconnecting)."""
        if not self.connected:
            return False
        try:
            self._write([], record)
        except _CONNECTION_ERRORS as exc:
            self._warn(
                time.monotonic(),
                "send",
                "channel %s: value not sent, Redis at %s: %s (will be sent after reconnecting)",
                record.name,
                self.address,
                exc,
            )
            return False
        return True

    # ------------------------------------------------------------ the reader
    def _new_connection(self) -> Connection:
        return self._connection(self.address, timeout=self.timeout, client_name=self.client_name)

    @contextlib.contextmanager
    def subscriptions_together(self) -> Iterator[None]:
        """Channels opened inside subscribe together when it ends: one ``SUBSCRIBE`` per
        ``SUBSCRIBE_CHUNK`` channels rather than one each (10,000 channels opened at once)."""
        with self._sub_lock:
            self._together += 1
        try:
            yield
        finally:
            with self._sub_lock:
                self._together -= 1
                names, self._held_subscriptions = self._held_subscriptions, []
            self._send_subscriber(
                [
                    ("SUBSCRIBE", *names[start : start + SUBSCRIBE_CHUNK])
                    for start in range(0, len(names), SUBSCRIBE_CHUNK)
                ]
            )

    def _send_subscriber(self, commands: list[tuple[Any, ...]]) -> None:
        # When not connected, or if this fails, the reader resubscribes every channel when it
        # (re)connects.
        with self._sub_lock:
            if self._together:
                held = [c for c in commands if c[0] == "SUBSCRIBE"]
                for command in held:
                    self._held_subscriptions += command[1:]
                commands = [c for c in commands if c[0] != "SUBSCRIBE"]
            if commands and self._sub is not None and self._sub.connected:
                with contextlib.suppress(ConnectionError):
                    self._sub.send(*commands)

    def _write(
        self, out: list[Publish], unsent: ChannelRecord | None = None, *, every: bool = False
    ) -> None:
        """Publish ``out`` and what was set or posted here and not sent yet (on ``unsent``'s
        channel, or on every channel with ``every``) in one pipelined round trip, then feed
        the protocol the results and carry out what follows. The protocol hands its messages
        out under ``_write_lock`` (see the module docstring); a failed write gives them back
        and raises."""
        with self._write_lock:
            if unsent is not None or every:
                with self._lock:
                    out = out + self._protocol.take_unsent(_now(), unsent)
            if not out:
                return
            try:
                results = self._writer_call(*(("PUBLISH", p.channel, p.data) for p in out))
            except _CONNECTION_ERRORS:
                with self._lock:
                    self._protocol.publish_failed(out)
                raise
        now = _now()
        more: list[Action] = []
        with self._lock:
            for publish, result in zip(out, results, strict=True):
                if publish.query is not None:
                    more += self._protocol.published(publish.query, int(result), now)
        if more:
            self._carry_out(more)

    def _writer_call(self, *commands: tuple[Any, ...]) -> list[Any]:
        # Caller holds _write_lock.
        if not self._writer.connected:
            self._writer.connect()
        return self._writer.call_many(*commands)

    def _set_state(self, state: ConnectionState, error: BaseException | str | None = None) -> None:
        if error is not None:
            self.last_error = str(error) or type(error).__name__
        previous, self._state = self._state, state
        if state is ConnectionState.DISCONNECTED and self.disconnected_since is None:
            self.disconnected_since = time.time()
        elif state is ConnectionState.CONNECTED:
            self.disconnected_since = None
        if previous is state:
            return
        if state is ConnectionState.DISCONNECTED:
            log.warning("%s", self.describe_state())
        else:
            log.info("bus %s: %s", self.address, state.value)
        for fn in list(self._state_listeners):
            try:
                fn(state, self.last_error)
            except Exception:
                log.exception("state listener %r failed", fn)

    def _run(self) -> None:
        with self._reader_context():
            self._run_reader()

    def _run_reader(self) -> None:
        self._reader_id = self.runtime.current()
        backoff = _Backoff()
        while not self._closed:
            try:
                self._connect()
            except _CONNECTION_ERRORS as exc:
                if self._closed:
                    break
                self._set_state(ConnectionState.DISCONNECTED, exc)
                self._wakeup.wait(backoff.next())
                continue
            try:
                self._read_loop()
            except _CONNECTION_ERRORS as exc:
                if not self._closed:
                    self._set_state(ConnectionState.DISCONNECTED, exc)
                    self.stats.reconnects += 1
            except Exception as exc:  # a bug of ours: keep the bus alive, and say so
                log.exception("bus %s: reader failed, reconnecting", self.address)
                self._set_state(ConnectionState.DISCONNECTED, exc)
            finally:
                with self._lock:
                    self._protocol.connection_lost()
                with self._sub_lock:
                    if self._sub is not None:
                        self._sub.close()
                    self._sub = None
                with self._write_lock:
                    self._writer.close()
            if time.monotonic() - self._connected_at < STABLE_CONNECTION:
                self._wakeup.wait(backoff.next())
            else:
                backoff.reset()

    def _connect(self) -> None:
        sub = self._new_connection()
        sub.connect()
        try:
            with self._write_lock:
                self._writer.close()
                self._writer.connect()
        except BaseException:
            sub.close()
            raise
        with self._sub_lock:
            self._sub = sub
            with self._lock:
                actions = self._protocol.connection_made(_now())
            commands = _subscriber_commands(actions)
            if commands:
                sub.send(*commands)
        self._connected_at = time.monotonic()
        self._set_state(ConnectionState.CONNECTED)

    def _read_loop(self) -> None:
        sub = self._sub
        assert sub is not None
        quiet_since = time.monotonic()
        pinged_at: float | None = None
        while not self._closed:
            now = time.monotonic()
            if pinged_at is None:
                wait = self.health_interval - (now - quiet_since)
            else:
                wait = self.health_timeout - (now - pinged_at)
            with self._lock:
                timer = self._protocol.next_timer()
            if timer is not None:
                wait = min(wait, timer - now)
            # One recv takes everything already pending (up to 256 KiB): that is the batch.
            replies = sub.read(max(0.0, wait))
            now = time.monotonic()
            if replies:
                quiet_since, pinged_at = now, None
                self._handle_batch(replies)
            elif pinged_at is not None:
                if now - pinged_at >= self.health_timeout:
                    raise TimeoutError(
                        f"Redis at {self.address} did not answer within {self.health_timeout} s "
                        "(health check)"
                    )
            elif now - quiet_since >= self.health_interval:
                with self._sub_lock:
                    sub.send(("PING",))
                pinged_at = now
            with self._lock:
                actions = self._protocol.tick(_now())
            self._carry_out(actions, unsent=self._protocol.has_unsent)
            while self._released:
                reference = self._released.popleft()
                with self._lock:
                    if self._participants.get(reference.record.name) is reference:
                        del self._participants[reference.record.name]
                    actions = self._protocol.close(reference.record)
                self._carry_out(actions)

    def _handle_batch(self, replies: list[Any]) -> None:
        """The protocol takes the whole batch under the lock at once; then deliveries (the
        callbacks) run in order, outside it, and the publishes go in one round trip."""
        now = _now()
        protocol = self._protocol
        actions: list[Action] = []
        with self._lock:
            for reply in replies:
                if type(reply) is not list or len(reply) != 3:
                    if isinstance(reply, RedisError):
                        log.error(
                            "bus %s: Redis error on the subscriber connection: %s",
                            self.address,
                            reply,
                        )
                    continue
                kind, raw_name, data = reply
                if kind == b"message":
                    actions += protocol.received(raw_name, data, now)
                elif kind == b"subscribe":
                    actions += protocol.subscribed(raw_name, now)
        if actions:
            self._carry_out(actions)

    def _carry_out(self, actions: list[Action], unsent: bool = False) -> None:
        """Do what the protocol said, in order; its publishes (with, ``unsent``, whatever
        was set or posted and not sent yet) in one round trip at the end."""
        out: list[Publish] = []
        self._dispatch(actions, out)
        if out or unsent:
            self._write(out, every=unsent)

    def _dispatch(self, actions: Iterable[Action], out: list[Publish]) -> None:
        """Deliver values now; collect publishes for the batch's round trip."""
        for action in actions:
            if type(action) is Publish:
                out.append(action)
            elif type(action) is Subscribe or type(action) is Unsubscribe:
                self._send_subscriber(_subscriber_commands([action]))
            elif type(action) is Warn:
                self._warn(time.monotonic(), action.key, action.message, *action.args)
            elif type(action) is Deliver:
                self._deliver(action)
            elif type(action) is HoldersChanged:
                participant = self._participant(action.record.name)
                if participant is not None:
                    participant.holders_changed(action.standing)
            elif type(action) is Undecodable:
                for fn in self._decode_error_listeners:
                    try:
                        fn(action.name, action.error)
                    except Exception:
                        log.exception("decode error listener %r failed", fn)

    def _participant(self, name: str) -> Participant | None:
        """The live channel object of ``name`` (None: none, or collected)."""
        reference = self._participants.get(name)
        return None if reference is None else reference()

    def _deliver(self, action: Deliver) -> None:
        participant = self._participant(action.record.name)
        if participant is None:
            return
        try:
            participant.deliver(action.message)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("channel %s: a callback failed", action.record.name)


def _subscriber_commands(actions: Iterable[Action]) -> list[tuple[Any, ...]]:
    """The subscriber connection's commands for the protocol's Subscribe and Unsubscribe."""
    return [
        ("SUBSCRIBE" if type(a) is Subscribe else "UNSUBSCRIBE", *a.channels)
        for a in actions
        if type(a) is Subscribe or type(a) is Unsubscribe
    ]
