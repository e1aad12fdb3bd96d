"""The bus: all channels of a process on one Redis server, through two connections.

Concurrency model
-----------------
A :class:`Bus` owns exactly two Redis connections and one task:

- the **subscriber connection** is read by a single task, the *reader* (a daemon thread, or a
  greenlet in a gevent-patched process, see :mod:`tango_channels.transport.runtime`). It decodes
  every message, updates channels, runs their callbacks, answers queries and sends the queries
  of newly subscribed channels. Callbacks of received values therefore run in the reader: they
  must be short, and must not wait for the first value of a channel (that value could only
  arrive through the reader they are blocking; :attr:`Channel.value` raises instead of
  deadlocking). Other tasks only *write* ``SUBSCRIBE``/``UNSUBSCRIBE`` on it, under
  ``_sub_lock``.
- the **writer connection** carries every ``PUBLISH`` (values set by any thread, replies, queries)
  and ``PUBSUB`` commands, one round trip at a time under ``_write_lock``: writes are serialised.

The reader reads with a timeout, never a bare blocking read: when the connection has been quiet
for ``health_interval`` seconds it sends a ``PING``, and declares the connection dead when nothing
at all comes back within ``health_timeout`` (a paused or half-open server). On any connection
error it reconnects with exponential backoff and jitter, resubscribes every channel, queries
them all again (held values are kept and replaced only by newer ones), asks again when another
process rejoins soon after (it was reconnecting too, and may hold a value we missed), and
publishes values that were set while Redis was unreachable. :attr:`Bus.state` and
:meth:`Bus.add_state_listener` make this visible. A Redis server that is down when the bus
starts is just the first of these retries: nothing hangs, and reading a channel's value times
out with an error saying so.

Messages are read in batches (everything already received, one ``recv``); after each batch
the hooks registered with :meth:`Bus.after_batch` run, so that a consumer such as the Tango
device can publish only the latest value of each channel when values arrive faster than it can
forward them.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .transport.address import RedisAddress, resolve
from .transport.resp import RedisError, RespConnection
from .transport.runtime import current_runtime
from .wire.decode import DEFAULT_LIMITS, DecodeError, Limits, decode
from .wire.encode import EncodeError, encode_query, encode_reply, encode_value
from .wire.messages import Query, Reply, ValueMessage

if TYPE_CHECKING:
    from .channel import _Participant

__all__ = ["Bus", "BusStats", "ConnectionState"]

log = logging.getLogger(__name__)

_CONNECTION_ERRORS = (ConnectionError, TimeoutError, OSError, RedisError)
_SUBSCRIBE_CHUNK = 500
# After another process queries a channel we have no value for, wait this long (its own query
# over, it holds a value) before asking again.
ASK_AGAIN_AFTER_A_NEWCOMER = 0.5
# For this long after we (re)connect, a process joining a channel we hold makes us ask again
# too: values published while we were away never reach us, and our own query on reconnecting
# missed the holders that were reconnecting themselves (a Redis restart cuts everyone).
REJOIN_WINDOW = 10.0
# A connection lost sooner than this after it was made counts as a failed attempt: the next
# one waits its backoff (a server that cuts us at once, or a bug of ours on the first batch,
# must not become a tight reconnect loop).
STABLE_CONNECTION = 1.0


def _query_id(again: bool) -> str:
    """A query id. A first query (a process joining the channel) gets a uuid4 hex, as BLISS
    makes them; asking again gets the same with version digit 0, which no uuid4 has, so that
    no one takes it for a newcomer: two mirrors without a value would ask each other for ever.
    """
    query_id = uuid.uuid4().hex
    return f"{query_id[:12]}0{query_id[13:]}" if again else query_id


def _is_join(query_id: str) -> bool:
    """Whether a query comes from a process joining the channel (see :func:`_query_id`)."""
    return not (len(query_id) == 32 and query_id[12] == "0")


class ConnectionState(enum.Enum):
    """Where the bus stands with its Redis server."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


@dataclass
class BusStats:
    """Counters of what the reader did; written by the reader only."""

    messages: int = 0
    values: int = 0
    queries_answered: int = 0
    decode_errors: int = 0
    callback_errors: int = 0
    reconnects: int = 0
    decode_errors_by_channel: dict[str, int] = field(default_factory=dict)


@dataclass
class _PendingQuery:
    id: str
    name: str
    deadline: float
    expected: int | None = None  # known once PUBLISH has said how many subscribers heard it
    answered: int = 0
    got_value: bool = False
    retries: int = 0


class _Backoff:
    """Exponential backoff with jitter: 50 ms doubling up to ``cap`` seconds."""

    def __init__(self, cap: float = 2.0) -> None:
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap, 0.05 * 2**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0


class _RateLimitedWarning:
    """One warning per key per ``period`` seconds, with the count of those not shown."""

    def __init__(self, period: float = 10.0) -> None:
        self.period = period
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last, hidden = self._last.get(key, (-self.period, 0))
        if now - last < self.period:
            self._last[key] = (last, hidden + 1)
            return
        if hidden:
            message += f" ({hidden} similar messages not logged)"
        self._last[key] = (now, 0)
        log.warning(message, *args)


class Bus:
    """All the channels of this process on one Redis server (see the module docstring).

    ``redis`` is a URL, a ``redis.Redis`` client (only its address is used), a
    :class:`~tango_channels.transport.address.RedisAddress`, or ``None`` for the default resolution
    (``BEACON_HOST``, then ``REDIS_URL``, then localhost). ``timeout`` bounds every Redis round
    trip and connection attempt. ``trusted_modules``: a held value naming classes (kept as
    :class:`~tango_channels.wire.opaque.Opaque`) is re-sent in answer to a query only if every one
    of them is under these module prefixes; BLISS would import and run them when decoding it,
    and whoever can publish on Redis chooses them. ``reader_context`` is entered by the
    reader task around its whole life: the Tango device passes ``tango.EnsureOmniThread`` so
    that the events it pushes from channel callbacks come from a thread omniORB knows.
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
    ) -> None:
        self.address: RedisAddress = resolve(redis)
        self.sender_id = str(os.getpid())
        self.timeout = timeout
        self.health_interval = health_interval
        self.health_timeout = health_timeout
        self.limits = limits
        self.trusted_modules = tuple(trusted_modules)
        self.client_name = client_name or f"tango-channels:{socket.gethostname()}:{os.getpid()}"
        self.stats = BusStats()
        self.runtime = current_runtime()

        self._state = ConnectionState.CONNECTING
        self.last_error: str | None = None
        self.disconnected_since: float | None = None
        self._state_listeners: list[Callable[[ConnectionState, str | None], None]] = []
        self._batch_hooks: list[Callable[[], None]] = []
        self._decode_error_listeners: list[Callable[[str, str], None]] = []

        self._lock = threading.Lock()  # channel registry; never held across I/O
        self._sub_lock = self.runtime.io_lock()  # writes on the subscriber connection
        self._write_lock = self.runtime.io_lock()  # the writer connection
        self._channels: weakref.WeakValueDictionary[str, _Participant] = (
            weakref.WeakValueDictionary()
        )
        self._subscribed: set[str] = set()
        self._released: deque[str] = deque()  # names of channels garbage-collected
        self._queries: dict[str, _PendingQuery] = {}
        # Our own queries come back to us (we are subscribed); they may be answered and
        # forgotten before that echo arrives, so their ids are kept until it does.
        self._own_query_ids: set[str] = set()
        self._query_deadlines: list[tuple[float, str]] = []
        self._ask_again_at: list[tuple[float, str]] = []  # (when, channel name)
        # channel name -> (retries so far, ask even if a value is held)
        self._asking_again: dict[str, tuple[int, bool]] = {}
        self._connected_at = -math.inf  # time.monotonic() of the last (re)connection
        self._sub: RespConnection | None = None
        self._writer = RespConnection(self.address, timeout=timeout, client_name=self.client_name)
        self._closed = False
        self._wakeup = self.runtime.event()
        self._warn = _RateLimitedWarning()
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

    def after_batch(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` in the reader after each batch of received messages."""
        self._batch_hooks.append(fn)

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
        with self._write_lock:
            return int(self._writer_call(("PUBLISH", name.encode(), msg.wire))[0])

    def live_channels(self, pattern: str = "*") -> list[str]:
        """Names of the channels that have subscribers on the server (``PUBSUB CHANNELS``)."""
        with self._write_lock:
            names = self._writer_call(("PUBSUB", "CHANNELS", pattern.encode()))[0]
        return sorted(n.decode("utf-8", "surrogateescape") for n in names)

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
        return f"<Bus {self.address} {self._state.value}, {len(self._channels)} channels>"

    # --------------------------------------------------- used by channel.py
    def _in_reader(self) -> bool:
        return self._reader_id == self.runtime.current()

    def _participant(
        self, cls: type, name: str, factory: Callable[[], _Participant]
    ) -> tuple[_Participant, bool]:
        """The live participant for ``name`` (created with ``factory`` and subscribed if
        there is none); the flag says whether it was created now."""
        if self._closed:
            raise RuntimeError(f"bus for Redis at {self.address} is closed")
        with self._lock:
            existing = self._channels.get(name)
            if existing is not None:
                if type(existing) is not cls:
                    raise TypeError(
                        f"channel {name!r} is already open as a {type(existing).__name__} "
                        f"in this process"
                    )
                return existing, False
            participant = factory()
            self._channels[name] = participant
            # A channel nobody references any more is unsubscribed by the reader (a finalizer
            # may run in any thread, at any allocation: it only queues the name).
            participant._finalizer = weakref.finalize(participant, self._released.append, name)
        with self._sub_lock:
            self._subscribed.add(name)
            self._send_subscription("SUBSCRIBE", name)
        return participant, True

    def _release(self, name: str, participant: _Participant | None = None) -> None:
        """Stop following ``name`` (its channel was closed or collected)."""
        with self._lock:
            current = self._channels.get(name)
            if current is not None and current is not participant:
                return  # a new channel of that name is open again
            self._channels.pop(name, None)
        with self._sub_lock:
            if name in self._channels:
                return
            self._subscribed.discard(name)
            self._send_subscription("UNSUBSCRIBE", name)

    def _send_subscription(self, command: str, name: str) -> None:
        # Caller holds _sub_lock. When not connected, or if this fails, the reader
        # resubscribes the whole of _subscribed when it (re)connects.
        if self._sub is not None and self._sub.connected:
            with contextlib.suppress(ConnectionError):
                self._sub.send((command, name.encode()))

    def _send_value(self, participant: _Participant) -> bool:
        """Publish the participant's latest unsent value; False if Redis is unreachable."""
        if not self.connected:
            return False
        with self._write_lock:
            msg, seq = participant._unsent()
            if msg is None:
                return True
            try:
                self._writer_call(("PUBLISH", participant._wire_name, msg.wire))
            except _CONNECTION_ERRORS as exc:
                self._warn(
                    "send",
                    "channel %s: value not sent, Redis at %s: %s (will be sent after reconnecting)",
                    participant.name,
                    self.address,
                    exc,
                )
                return False
            participant._sent(seq)
            return True

    # ------------------------------------------------------------ the reader
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
        sub = RespConnection(self.address, timeout=self.timeout, client_name=self.client_name)
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
            names = sorted(self._subscribed)
            self._queries.clear()
            self._own_query_ids.clear()
            self._query_deadlines.clear()
            self._ask_again_at.clear()
            self._asking_again.clear()
            for participant in list(self._channels.values()):
                participant._needs_query = participant._queries_holders
            for start in range(0, len(names), _SUBSCRIBE_CHUNK):
                chunk = names[start : start + _SUBSCRIBE_CHUNK]
                sub.send(("SUBSCRIBE", *(n.encode() for n in chunk)))
        self._connected_at = time.monotonic()
        self._set_state(ConnectionState.CONNECTED)

    def _read_loop(self) -> None:
        sub = self._sub
        assert sub is not None
        pinged_at: float | None = None
        while not self._closed:
            # One recv takes everything already pending (up to 256 KiB): that is the batch.
            replies = sub.read(self.health_interval)
            now = time.monotonic()
            if replies:
                pinged_at = None
                self._handle_batch(replies)
            elif pinged_at is None:
                with self._sub_lock:
                    sub.send(("PING",))
                pinged_at = now
            elif now - pinged_at > self.health_timeout:
                raise TimeoutError(
                    f"Redis at {self.address} did not answer within {self.health_timeout} s "
                    "(health check)"
                )
            self._expire_queries(now)
            self._ask_again_now(now)
            while self._released:
                self._release(self._released.popleft())

    def _handle_batch(self, replies: list[Any]) -> None:
        out: list[tuple[Any, ...]] = []
        queries: list[tuple[int, _PendingQuery]] = []
        for reply in replies:
            if type(reply) is not list or len(reply) != 3:
                if isinstance(reply, RedisError):
                    log.error(
                        "bus %s: Redis error on the subscriber connection: %s", self.address, reply
                    )
                continue
            kind, raw_name, data = reply
            if kind == b"message":
                self._on_message(raw_name, data, out)
            elif kind == b"subscribe":
                self._on_subscribed(raw_name, out, queries)
        if out:
            self._flush(out, queries)
        for hook in self._batch_hooks:
            try:
                hook()
            except Exception:
                log.exception("after_batch hook %r failed", hook)

    def _flush(self, out: list[tuple[Any, ...]], queries: list[tuple[int, _PendingQuery]]) -> None:
        with self._write_lock:
            results = self._writer_call(*out)
        for index, query in queries:
            # PUBLISH counted every subscriber, this bus included: it does not answer itself.
            query.expected = int(results[index]) - 1
            self._check_query(query)

    def _on_subscribed(
        self, raw_name: bytes, out: list[tuple[Any, ...]], queries: list[tuple[int, _PendingQuery]]
    ) -> None:
        name = raw_name.decode("utf-8", "surrogateescape")
        participant = self._channels.get(name)
        if participant is None:
            return
        if participant._needs_query:
            participant._needs_query = False
            self._start_query(participant, out, queries)
        msg, _ = participant._unsent()
        if msg is not None:
            self._send_value(participant)

    def _start_query(
        self,
        participant: _Participant,
        out: list[tuple[Any, ...]],
        queries: list[tuple[int, _PendingQuery]],
        retries: int = 0,
        again: bool = False,
    ) -> None:
        name = participant.name
        query = _PendingQuery(
            _query_id(again), name, time.monotonic() + participant.timeout, retries=retries
        )
        participant._query = query
        self._queries[query.id] = query
        self._own_query_ids.add(query.id)
        heapq.heappush(self._query_deadlines, (query.deadline, query.id))
        queries.append((len(out), query))
        out.append(("PUBLISH", participant._wire_name, encode_query(name, query.id)))

    def _ask_again(
        self, name: str, delay: float, retries: int = 0, even_if_held: bool = False
    ) -> None:
        """Query channel ``name`` again in ``delay`` seconds if it still has no value (or
        anyway, ``even_if_held``)."""
        pending = self._asking_again.get(name)
        if pending is None:
            heapq.heappush(self._ask_again_at, (time.monotonic() + delay, name))
            self._asking_again[name] = (retries, even_if_held)
        elif even_if_held:
            self._asking_again[name] = (pending[0], True)

    def _ask_again_now(self, now: float) -> None:
        out: list[tuple[Any, ...]] = []
        queries: list[tuple[int, _PendingQuery]] = []
        while self._ask_again_at and self._ask_again_at[0][0] <= now:
            _, name = heapq.heappop(self._ask_again_at)
            retries, even_if_held = self._asking_again.pop(name, (0, False))
            participant = self._channels.get(name)
            if participant is None or participant._closed:
                continue
            if participant._wants_value() or (even_if_held and participant._queries_holders):
                self._start_query(participant, out, queries, retries, again=True)
        if out:
            self._flush(out, queries)

    def _on_message(self, raw_name: bytes, data: bytes, out: list[tuple[Any, ...]]) -> None:
        self.stats.messages += 1
        name = raw_name.decode("utf-8", "surrogateescape")
        participant = self._channels.get(name)
        if participant is not None and participant._is_echo(data):
            return  # the value we just published, coming back: nothing to decode
        try:
            msg = decode(data, self.limits)
        except DecodeError as exc:
            self.stats.decode_errors += 1
            by_channel = self.stats.decode_errors_by_channel
            by_channel[name] = by_channel.get(name, 0) + 1
            self._warn(
                f"decode:{name}",
                "channel %s: dropped an undecodable message of %d bytes: %s",
                name,
                len(data),
                exc,
            )
            for fn in self._decode_error_listeners:
                try:
                    fn(name, str(exc))
                except Exception:
                    log.exception("decode error listener %r failed", fn)
            return
        if type(msg) is ValueMessage:
            self.stats.values += 1
            if participant is not None:
                self._deliver(participant, msg)
        elif type(msg) is Query:
            if msg.id in self._own_query_ids:
                self._own_query_ids.discard(msg.id)
                return  # our own query: we do not answer ourselves
            if participant is not None and _is_join(msg.id):
                if participant._wants_value():
                    # Someone starts holding this channel: it will have a value (its default,
                    # which BLISS doesn't publish) once its own query is over. Ask it then.
                    self._ask_again(name, ASK_AGAIN_AFTER_A_NEWCOMER)
                elif time.monotonic() - self._connected_at < REJOIN_WINDOW:
                    self._ask_again(name, ASK_AGAIN_AFTER_A_NEWCOMER, even_if_held=True)
            held = participant._answer() if participant is not None else None
            if held is not None and not self._may_resend(name, held):
                held = None
            try:
                reply = encode_reply(name, msg.id, held)
            except EncodeError as exc:
                log.error(
                    "channel %s: cannot re-send the held value (%s); answering None", name, exc
                )
                reply = encode_reply(name, msg.id, None)
            self.stats.queries_answered += 1
            out.append(("PUBLISH", raw_name, reply))
        elif type(msg) is Reply:
            query = self._queries.get(msg.id)
            if query is not None:
                query.answered += 1
                if msg.value is not None:
                    query.got_value = True
                    participant = self._channels.get(query.name)
                    if participant is not None:
                        self._deliver(participant, msg.value)
                self._check_query(query)

    def _may_resend(self, name: str, held: ValueMessage) -> bool:
        untrusted = sorted(c for c in held.classes if not c.startswith(self.trusted_modules))
        if untrusted:
            self._warn(
                f"untrusted:{name}",
                "channel %s: not re-sending a value naming %s (outside "
                "the trusted modules %s); answered as not held",
                name,
                ", ".join(untrusted[:3]),
                ", ".join(self.trusted_modules),
            )
        return not untrusted

    def _deliver(self, participant: _Participant, msg: ValueMessage) -> None:
        try:
            participant._receive(msg)
        except Exception:
            self.stats.callback_errors += 1
            log.exception("channel %s: a callback failed", participant.name)

    def _check_query(self, query: _PendingQuery) -> None:
        if query.expected is None or query.answered < query.expected:
            return
        self._queries.pop(query.id, None)
        participant = self._channels.get(query.name)
        if participant is not None and not query.got_value:
            # Nobody holds a value: the channel starts from its default, as in BLISS.
            try:
                participant._use_default()
            except Exception:
                self.stats.callback_errors += 1
                log.exception("channel %s: a callback failed", participant.name)

    def _expire_queries(self, now: float) -> None:
        deadlines = self._query_deadlines
        while deadlines and deadlines[0][0] <= now:
            _, query_id = heapq.heappop(deadlines)
            # The query stays open: a late answer is still taken.
            query = self._queries.get(query_id)
            if query is None or query.got_value:
                continue
            log.warning(
                "channel %s: %s of %s holders answered its query in time",
                query.name,
                query.answered,
                query.expected,
            )
            if query.retries == 0:  # a holder may have died meanwhile: ask once more
                self._ask_again(query.name, 0.0, retries=1)
