"""BLISS's channel API: ``Channel``, ``EventChannel``, ``Cache`` and ``clear_cache``.

The semantics are those of ``bliss.config.channels`` (BLISS 2.4):

- ``Channel(name)`` on a bus returns the one live object of that name in this process; creating
  it subscribes and asks the other holders for the current value. Reading ``.value`` waits for
  the answers (or the default when nobody holds a value) and raises :class:`TimeoutError`
  naming the channel after ``timeout`` seconds (10 by default).
- Setting ``.value`` updates the local value at once, runs the local callbacks (unless
  ``self_updates=False``), then publishes; every holder keeps a value only if its timestamp is
  strictly newer than the one it holds.
- Callbacks are held by weak reference, as in BLISS: keep a reference to the function (a
  lambda that nothing else references is dropped). Callbacks of received values run in the
  bus reader (see :mod:`tango_channels.bus`).
- Values are not stored anywhere: once the last holder closes, a new ``Channel`` of that name
  starts from its default.

Where we differ, on purpose: a set made while Redis is unreachable is published after
reconnecting (BLISS loses it); a value we set is stamped just after the held one when the
local clock is behind it (BLISS would silently keep the old value); every answer to a query is
taken if newer (BLISS takes the first non-None); a set whose callback raises is still published
(then the error is raised); we ask the holders again when one may have a value we lack (a
newcomer's default, a holder that died mid-query, another process rejoining soon after we
reconnected), with query ids that are not uuid4s so that nobody takes those for newcomers.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from .bus import Bus, ConnectionState
from .transport.address import RedisAddress, resolve
from .wire.encode import encode_value
from .wire.messages import ValueMessage

__all__ = ["DEFAULT_TIMEOUT", "Cache", "Channel", "EventChannel", "bus_for", "clear_cache"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
_MAX_PENDING_EVENTS = 10_000


def _weak(fn: Callable[..., Any]) -> Callable[[], Callable[..., Any] | None]:
    """A weak reference to ``fn`` (bound methods included); strong for builtins."""
    if not callable(fn):
        raise ValueError(f"{fn!r} is not callable")
    try:
        if hasattr(fn, "__self__") and hasattr(fn, "__func__"):
            return weakref.WeakMethod(fn)
        return weakref.ref(fn)
    except TypeError:
        return _Strong(fn)


class _Strong:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self) -> Callable[..., Any]:
        return self.fn

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Strong) and other.fn == self.fn

    def __hash__(self) -> int:
        return hash(self.fn)


class _Participant:
    """What the bus needs of a channel: receive, answer, and what is left to send."""

    _queries_holders = True

    name: str
    _wire_name: bytes
    _needs_query: bool

    def _setup(self, bus: Bus, name: str, timeout: float | None) -> None:
        self._bus = bus
        self.name = name
        self._wire_name = name.encode()
        self._timeout = timeout
        self._needs_query = False
        self._query: Any = None  # the bus's record of our last query (answers counted live)
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], Callable[..., Any] | None]] = []
        self._firing: set[int] = set()
        self._closed = False
        self._seq = 0
        self._sent_seq = 0

    @property
    def bus(self) -> Bus:
        return self._bus

    @property
    def timeout(self) -> float:
        return self._timeout or DEFAULT_TIMEOUT

    @timeout.setter
    def timeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def register_callback(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(value)`` with every new value (weakly referenced, as in BLISS)."""
        ref = _weak(callback)
        with self._lock:
            self._callbacks = [r for r in self._callbacks if r() is not None]
            if ref not in self._callbacks:
                self._callbacks.append(ref)

    def unregister_callback(self, callback: Callable[[Any], Any]) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        ref = _weak(callback)
        with self._lock:
            self._callbacks = [r for r in self._callbacks if r != ref and r() is not None]

    def _fire(self, value: Any) -> None:
        callbacks = [fn for ref in self._callbacks if (fn := ref()) is not None]
        if not callbacks:
            return
        me = self._bus.runtime.current()
        self._firing.add(me)
        errors = []
        try:
            for fn in callbacks:
                try:
                    fn(value)
                except Exception as exc:  # noqa: BLE001 - run them all, re-raise the first
                    errors.append(exc)
        finally:
            self._firing.discard(me)
        if errors:
            raise errors[0]

    def _sent(self, seq: int) -> None:
        with self._lock:
            self._sent_seq = max(self._sent_seq, seq)

    def close(self) -> None:
        """Leave the channel: unsubscribe, stop answering queries, forget the value."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        self._bus._release(self.name, self)

    # Set by the bus registry at creation.
    _finalizer: weakref.finalize

    def _answer(self) -> ValueMessage | None:
        raise NotImplementedError

    def _is_echo(self, data: bytes) -> bool:
        """Whether ``data`` is the message we last published (we hear our own sets)."""
        return False

    def _wants_value(self) -> bool:
        """Whether asking the holders again could give this channel a value it lacks."""
        return False

    def _receive(self, msg: ValueMessage) -> None:
        raise NotImplementedError

    def _unsent(self) -> tuple[ValueMessage | None, int]:
        raise NotImplementedError

    def _use_default(self) -> None:
        """All holders answered, none with a value."""


class Channel(_Participant):
    """A BLISS channel: a value shared by every process that holds the same name.

    ``value``: set and publish this value (no query). ``default_value``: the value when no
    other process holds one. ``callback``: registered at once. ``timeout``: seconds that reading
    ``.value`` waits for the first value (10 if ``None``). ``redis``: a URL, a ``redis.Redis``
    client or ``None`` (see :func:`tango_channels.transport.address.resolve`); ``bus``: an explicit
    :class:`~tango_channels.bus.Bus` instead. ``self_updates=False``: callbacks skip the values
    this process set itself.

    ``mirror=True`` (not in BLISS) makes a channel that only reflects what real holders say:
    when nobody holds a value it does not adopt its default (nor BLISS's ``None``), so it never
    answers another process's query with a value it made up. A bridge such as the Tango device
    needs this: a BLISS session starting later must read its own default, not ours.
    """

    def __new__(
        cls,
        name: str,
        value: Any = None,
        default_value: Any = None,
        callback: Callable[[Any], Any] | None = None,
        timeout: float | None = None,
        redis: Any = None,
        bus: Bus | None = None,
        self_updates: bool = True,
        mirror: bool = False,
    ) -> Channel:
        bus = bus if bus is not None else bus_for(redis)

        def create() -> Channel:
            self = object.__new__(cls)
            self._setup(bus, name, timeout)
            self._default_value = default_value
            self._self_updates = self_updates
            self._held: ValueMessage | None = None
            self._ready = bus.runtime.event()
            self._needs_query = value is None
            self._mirror = mirror
            self._nobody_holds = False
            if callback is not None:
                self.register_callback(callback)
            return self

        channel, _ = bus._participant(cls, name, create)
        return channel  # type: ignore[return-value]

    def __init__(
        self,
        name: str,
        value: Any = None,
        default_value: Any = None,
        callback: Callable[[Any], Any] | None = None,
        timeout: float | None = None,
        redis: Any = None,
        bus: Bus | None = None,
        self_updates: bool = True,
        mirror: bool = False,
    ) -> None:
        # Runs at every Channel(name) of an existing channel too, as in BLISS.
        self._self_updates = self_updates
        if timeout is not None:
            self._timeout = timeout
        if default_value is not None:
            self._default_value = default_value
        if callback is not None:
            self.register_callback(callback)
        if value is not None:
            self.value = value

    @property
    def default_value(self) -> Any:
        return self._default_value

    @property
    def settled(self) -> bool:
        """Whether the first value is known: held, or every holder answered without one."""
        return self._held is not None or self._nobody_holds

    @property
    def held(self) -> ValueMessage | None:
        """The held value with its sender and timestamp, or None; never waits."""
        return self._held

    @property
    def value(self) -> Any:
        """The current value; waits up to :attr:`timeout` for the first one."""
        if self._closed:
            raise RuntimeError(f"Channel {self.name} is closed")
        if not self._ready.is_set():
            if self._bus._in_reader():
                raise RuntimeError(
                    f"Channel {self.name}: cannot wait for a first value inside a channel "
                    "callback (the callback runs in the reader that would receive it)"
                )
            if not self._ready.wait(self.timeout):
                raise TimeoutError(
                    f"Channel {self.name} did not receive a value"
                    f"{self.why_no_value(prefix=' (', suffix=')')}"
                )
        held = self._held
        assert held is not None
        return held.value

    @value.setter
    def value(self, new_value: Any) -> None:
        if self._closed:
            raise RuntimeError(f"Channel {self.name} is closed")
        if self._bus.runtime.current() in self._firing:
            raise RuntimeError(f"Channel {self.name}: can't set value while running a callback")
        with self._lock:
            timestamp = time.time()
            held = self._held
            if held is not None and timestamp <= held.timestamp:
                # Our clock is behind the holder's: BLISS would keep the old value silently.
                timestamp = math.nextafter(held.timestamp, math.inf)
            msg = encode_value(self._bus.sender_id, timestamp, new_value)
            self._held = msg
            self._needs_query = False
            self._seq += 1
        self._ready.set()
        try:
            if self._self_updates:
                self._fire(new_value)
        finally:
            self._bus._send_value(self)

    def why_no_value(self, prefix: str = "", suffix: str = "") -> str:
        """Why there is no value yet, for error messages ("" when there is one)."""
        if self._held is not None:
            return ""
        bus = self._bus
        query = self._query
        if not bus.connected:
            reason = bus.describe_state()
        elif query is None:
            reason = "not subscribed yet"
        elif self._nobody_holds:
            reason = "no process holds a value"
        elif query.expected is None:
            reason = "query sent, no answer yet"
        else:
            reason = f"{query.answered} of {query.expected} holders answered the query"
        return f"{prefix}{reason}{suffix}"

    def _receive(self, msg: ValueMessage) -> None:
        with self._lock:
            if self._closed or not msg.is_newer_than(self._held):
                return
            self._held = msg
            self._sent_seq = self._seq  # anything we had not sent yet is now obsolete
        if not self._ready.is_set():
            self._ready.set()
        if self._self_updates or msg.sender_id != self._bus.sender_id:
            self._fire(msg.value)

    def _answer(self) -> ValueMessage | None:
        return self._held

    def _wants_value(self) -> bool:
        return self._held is None and not self._closed

    def _is_echo(self, data: bytes) -> bool:
        held = self._held
        return held is not None and held.wire == data and held.sender_id == self._bus.sender_id

    def _unsent(self) -> tuple[ValueMessage | None, int]:
        with self._lock:
            if self._seq > self._sent_seq and self._held is not None:
                return self._held, self._seq
        return None, 0

    def _use_default(self) -> None:
        if self._mirror:
            self._nobody_holds = True
            return
        with self._lock:
            if self._held is not None or self._closed:
                return
            self._held = encode_value(self._bus.sender_id, time.time(), self._default_value)
        self._ready.set()
        if self._self_updates:
            self._fire(self._default_value)

    def close(self) -> None:
        super().close()
        with self._lock:
            self._held = None

    def __repr__(self) -> str:
        held = self._held
        shown = "no value" if held is None else f"value={held.value!r:.60}"
        return f"<Channel {self.name!r} {shown}>"


class EventChannel(_Participant):
    """A channel of events: each publication carries a list of events; nothing is held.

    ``post(event)`` publishes; every subscriber's callbacks (the poster's included) receive
    the list of events of each message.
    """

    _queries_holders = False

    def __new__(
        cls, name: str, redis: Any = None, bus: Bus | None = None, **ignored: Any
    ) -> EventChannel:
        bus = bus if bus is not None else bus_for(redis)

        def create() -> EventChannel:
            self = object.__new__(cls)
            self._setup(bus, name, None)
            self._event_id = f"{os.getpid()}_{id(self)}"
            self._pending: deque[Any] = deque()
            return self

        channel, _ = bus._participant(cls, name, create)
        return channel  # type: ignore[return-value]

    def __init__(
        self, name: str, redis: Any = None, bus: Bus | None = None, **ignored: Any
    ) -> None:
        pass

    def post(self, event: Any) -> None:
        """Publish ``event`` (sent with any others still waiting for Redis)."""
        if self._closed:
            raise RuntimeError(f"EventChannel {self.name} is closed")
        encode_value(self._event_id, 0.0, [event])  # refuse what cannot be sent, now
        with self._lock:
            if len(self._pending) >= _MAX_PENDING_EVENTS:
                self._pending.popleft()
                log.warning("event channel %s: Redis unreachable, oldest event dropped", self.name)
            self._pending.append(event)
            self._seq += 1
        self._bus._send_value(self)

    def _unsent(self) -> tuple[ValueMessage | None, int]:
        with self._lock:
            if not self._pending:
                return None, 0
            events = list(self._pending)
            seq = self._seq
        return encode_value(self._event_id, time.time(), events), seq

    def _sent(self, seq: int) -> None:
        with self._lock:
            for _ in range(len(self._pending) - (self._seq - seq)):
                self._pending.popleft()

    def _receive(self, msg: ValueMessage) -> None:
        self._fire(msg.value)

    def _answer(self) -> ValueMessage | None:
        return encode_value(self._event_id, time.time(), [])

    def __repr__(self) -> str:
        return f"<EventChannel {self.name!r}>"


# ------------------------------------------------------------------ buses by address
_BUSES: dict[RedisAddress, Bus] = {}
_BUSES_LOCK = threading.Lock()
_DEFAULT_ADDRESS: list[RedisAddress] = []


def bus_for(redis: Any = None) -> Bus:
    """The process's bus for a Redis server, created on first use.

    One bus per server address, as BLISS keeps one per connection: every ``Channel`` of this
    process on that server shares its two connections. ``None`` resolves the default address
    once (``BEACON_HOST``, ``REDIS_URL``, localhost).
    """
    with _BUSES_LOCK:
        if redis is None:
            if not _DEFAULT_ADDRESS:
                _DEFAULT_ADDRESS.append(resolve(None))
            address = _DEFAULT_ADDRESS[0]
        else:
            address = resolve(redis)
        bus = _BUSES.get(address)
        if bus is None or bus.state is ConnectionState.CLOSED:
            bus = _BUSES[address] = Bus(address)
        return bus


# ---------------------------------------------------------------------------- caches
_CACHES: weakref.WeakKeyDictionary[Any, list[Channel]] = weakref.WeakKeyDictionary()


def Cache(device: Any, key: str, **kwargs: Any) -> Channel:
    """The channel ``"<device.name>:<key>"``, remembered for :func:`clear_cache`."""
    try:
        device_name = device.name
    except AttributeError:
        raise TypeError(
            f"Cache: can't create a cache value for key {key}, the device {device} has no name"
        ) from None
    channel = Channel(f"{device_name}:{key}", **kwargs)
    channels = _CACHES.setdefault(device, [])
    if channel not in channels:
        channels.append(channel)
    return channel


def clear_cache(*devices: Any) -> None:
    """Set every :func:`Cache` channel of ``devices`` (all if none) back to its default, for
    every holder (the default is published, ``None`` included)."""
    for device in devices or list(_CACHES.keys()):
        for channel in _CACHES.get(device, []):
            channel.value = channel.default_value
