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
reconnecting (BLISS loses it), and so are the events posted meanwhile; a value we set is
stamped just after the held one when the local clock is behind it (BLISS would silently keep
the old value); every answer to a query is taken if newer (BLISS takes the first non-None); a
set whose callback raises is still published (then the error is raised); we ask the holders
again when one may have a value we lack (a newcomer's default, a holder that died mid-query,
another process rejoining soon after we reconnected), with query ids that are not uuid4s so
that nobody takes those for newcomers.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .bus import Bus
from .protocol import ChannelRecord, QueryProgress, Role, Standing
from .registry import Registry
from .transport.runtime import Event
from .wire.messages import ValueMessage

__all__ = ["DEFAULT_TIMEOUT", "Cache", "Channel", "EventChannel", "bus_for", "clear_cache"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


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


T = TypeVar("T")


class _FromRecord(Generic[T]):
    """A read-only attribute of a channel that is its record's (the protocol's) field."""

    def __init__(self, field: str, doc: str) -> None:
        self.field = field
        self.__doc__ = doc

    def __get__(self, channel: Any, owner: type | None = None) -> T:
        if channel is None:
            return self  # type: ignore[return-value]
        value: T = getattr(channel._record, self.field)
        return value


class _Callbacks:
    """What Channel and EventChannel share: their bus, the protocol's record of the channel
    (read here, changed only by the protocol), and weakly held callbacks. Slots: a bridge
    holds thousands of channels."""

    __slots__ = ("__weakref__", "_bus", "_callbacks", "_firing", "_lock", "_record")

    _bus: Bus
    _record: ChannelRecord

    def _setup(self, bus: Bus, record: ChannelRecord) -> None:
        self._bus = bus
        self._record = record
        self._lock = threading.Lock()
        # Replaced whole (a tuple: most channels of a device have no callback).
        self._callbacks: tuple[Callable[[], Callable[..., Any] | None], ...] = ()
        self._firing: set[int] | None = None  # tasks running its callbacks (made when needed)

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def bus(self) -> Bus:
        return self._bus

    @property
    def timeout(self) -> float:
        return self._record.timeout

    @timeout.setter
    def timeout(self, timeout: float | None) -> None:
        self._bus.update(self._record, timeout=timeout or DEFAULT_TIMEOUT, default=None)

    def register_callback(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(value)`` with every new value (weakly referenced, as in BLISS)."""
        ref = _weak(callback)
        with self._lock:
            alive = tuple(r for r in self._callbacks if r() is not None)
            self._callbacks = alive if ref in alive else (*alive, ref)

    def unregister_callback(self, callback: Callable[[Any], Any]) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        ref = _weak(callback)
        with self._lock:
            self._callbacks = tuple(r for r in self._callbacks if r != ref and r() is not None)

    def _fire(self, value: Any) -> None:
        callbacks = [fn for ref in self._callbacks if (fn := ref()) is not None]
        if not callbacks:
            return
        me = self._bus.runtime.current()
        if self._firing is None:
            self._firing = set()
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

    def deliver(self, message: ValueMessage) -> None:
        """A new value (see :class:`~tango_channels.bus.Participant`)."""
        raise NotImplementedError

    def holders_changed(self, standing: Standing) -> None:
        """Whether anyone holds it changed (see :class:`~tango_channels.bus.Participant`)."""

    def close(self) -> None:
        """Leave the channel: unsubscribe, stop answering queries, forget the value."""
        if not self._record.closed:
            self._bus.leave(self, self._record)


class Channel(_Callbacks):
    """A BLISS channel: a value shared by every process that holds the same name.

    ``value``: set and publish this value (no query). ``default_value``: the value when no
    other process holds one. ``callback``: registered at once. ``timeout``: seconds that reading
    ``.value`` waits for the first value (10 if ``None``). ``redis``: a URL, a ``redis.Redis``
    client or ``None`` (see :func:`tango_channels.transport.address.resolve`); ``bus``: an
    explicit :class:`~tango_channels.bus.Bus` instead. ``self_updates=False``: callbacks skip
    the values this process set itself.

    ``mirror=True`` (not in BLISS) makes a channel that only reflects what real holders say,
    and offers none of it: when nobody holds a value it does not adopt its default (nor
    BLISS's ``None``), and it answers every query with ``None`` unless the value was set here.
    A bridge such as the Tango device needs this: a BLISS session must start exactly as if the
    bridge were not there. ``on_holders_changed(standing)`` (mirrors, not in BLISS) is called
    when whether anyone holds the channel changes without a new value: nobody holds it (a first
    query answered without a value, or the last holder gone: see :attr:`abandoned`), or a
    holder is back; ``standing`` (a :class:`~tango_channels.protocol.Standing`) says how it
    stands, as made when it changed (another thread reads that, never the live record).
    ``on_message(message)`` (not in BLISS) is called with each new value as the
    :class:`~tango_channels.wire.messages.ValueMessage` that carried it (its sender and source
    timestamp with it: a bridge shows each value with its own time, never one looked up
    later), before the callbacks; it is held strongly.
    """

    __slots__ = ("_on_holders_changed", "_on_message", "_ready", "_self_updates")

    # Set when the first value is held; made only for a reader that has to wait for it (a
    # bridge holds thousands of channels nobody waits on).
    _ready: Event | None
    _self_updates: bool
    _on_holders_changed: Callable[[Standing], Any] | None
    _on_message: Callable[[ValueMessage], Any] | None

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
        on_holders_changed: Callable[[Standing], Any] | None = None,
        on_message: Callable[[ValueMessage], Any] | None = None,
    ) -> Channel:
        bus = bus if bus is not None else bus_for(redis)

        def create(record: ChannelRecord) -> Channel:
            self = object.__new__(cls)
            self._setup(bus, record)
            self._self_updates = self_updates
            self._on_holders_changed = on_holders_changed
            self._on_message = on_message
            self._ready = None
            # The callback goes in with the channel: the first value can come back (in the
            # reader) before the constructor returns.
            if callback is not None:
                self.register_callback(callback)
            return self

        channel = bus.join(
            name,
            cls,
            create,
            Role.MIRROR if mirror else Role.HOLDER,
            timeout=timeout or DEFAULT_TIMEOUT,
            default=default_value,
            query=value is None,
        )
        # What every Channel(name) does, to a new channel or to the one already open (BLISS's
        # __init__; there is no __init__ here, so that the arguments are declared once).
        channel._self_updates = self_updates
        bus.update(channel._record, timeout=timeout, default=default_value)
        if callback is not None:
            channel.register_callback(callback)
        if value is not None:
            channel.value = value
        return channel

    default_value = _FromRecord[Any]("default", "The value adopted when nobody holds one.")
    settled = _FromRecord[bool](
        "settled", "Whether the first value is known: held, or every holder answered without one."
    )
    held = _FromRecord[ValueMessage | None](
        "held", "The held value with its sender and timestamp, or None; never waits."
    )
    live = _FromRecord[bool](
        "live", "Whether a process holds the value now (it is not only the last one known)."
    )
    abandoned = _FromRecord[float | None](
        "abandoned",
        "Since when (``time.time()``) nobody holds the value it shows, if nobody does (a "
        "mirror's; None while a process holds it, or before it ever had a value).",
    )
    query = _FromRecord[QueryProgress | None](
        "query", "Our latest query of this channel and its answers so far (None before the first)."
    )

    @property
    def value(self) -> Any:
        """The current value; waits up to :attr:`timeout` for the first one."""
        if self._record.closed:
            raise RuntimeError(f"Channel {self.name} is closed")
        if self._record.held is None:
            if self._bus.in_reader():
                raise RuntimeError(
                    f"Channel {self.name}: cannot wait for a first value inside a channel "
                    "callback (the callback runs in the reader that would receive it)"
                )
            with self._lock:
                if self._ready is None:
                    self._ready = self._bus.runtime.event()
                ready = self._ready
            # Held before this event existed: deliver() set no event, and need not have.
            if self._record.held is None and not ready.wait(self.timeout):
                raise TimeoutError(
                    f"Channel {self.name} did not receive a value"
                    f"{self.why_no_value(prefix=' (', suffix=')')}"
                )
        held = self._record.held
        assert held is not None
        return held.value

    @value.setter
    def value(self, new_value: Any) -> None:
        if self._record.closed:
            raise RuntimeError(f"Channel {self.name} is closed")
        if self._firing and self._bus.runtime.current() in self._firing:
            raise RuntimeError(f"Channel {self.name}: can't set value while running a callback")
        message = self._bus.set_value(self._record, new_value)
        self._now_ready()
        try:
            if self._on_message is not None:
                self._on_message(message)
            if self._self_updates:
                self._fire(new_value)
        finally:
            self._bus.send_unsent(self._record)

    def why_no_value(self, prefix: str = "", suffix: str = "") -> str:
        """Why there is no value yet, for error messages ("" when there is one)."""
        record = self._record
        if record.held is not None:
            return ""
        bus = self._bus
        query = record.query
        if not bus.connected:
            reason = bus.describe_state()
        elif record.nobody_holds:
            reason = "no process holds a value"
        elif query is None:
            reason = "not subscribed yet"
        elif query.expected is None:
            reason = "query sent, no answer yet"
        else:
            reason = f"{query.answered} of {query.expected} holders answered the query"
        return f"{prefix}{reason}{suffix}"

    def holders_changed(self, standing: Standing) -> None:
        if self._on_holders_changed is not None:
            self._on_holders_changed(standing)

    def standing(self) -> Standing:
        """How the channel stands now (held value, held by anyone, since when not), made under
        the bus's lock: what a thread other than the reader reads (see
        :class:`~tango_channels.protocol.Standing`)."""
        return self._bus.standing(self._record)

    def deliver(self, message: ValueMessage) -> None:
        """A new value held (received, or our default): wake readers, run callbacks."""
        self._now_ready()
        if self._on_message is not None:
            self._on_message(message)
        if self._self_updates or message.sender_id != self._record.sender_id:
            self._fire(message.value)

    def _now_ready(self) -> None:
        """The first value is held (it was, before this is called): wake who waits for it."""
        ready = self._ready
        if ready is not None and not ready.is_set():
            ready.set()

    def __repr__(self) -> str:
        """As BLISS 2.4's: ``x-><initializing>`` before a value, then the held ``_Value``
        (``x->_Value(id='4242', timestamp=1796217874.63, value=42)``)."""
        held = self._record.held
        if held is None:
            return f"{self.name}-><initializing>"
        return (
            f"{self.name}->_Value(id={held.sender_id!r}, timestamp={held.timestamp!r}, "
            f"value={held.value!r})"
        )


class EventChannel(_Callbacks):
    """A channel of events: each publication carries a list of events; nothing is held.

    ``post(event)`` publishes; every subscriber's callbacks (the poster's included) receive
    the list of events of each message.
    """

    __slots__ = ()

    def __new__(
        cls, name: str, redis: Any = None, bus: Bus | None = None, **ignored: Any
    ) -> EventChannel:
        bus = bus if bus is not None else bus_for(redis)

        def create(record: ChannelRecord) -> EventChannel:
            self = object.__new__(cls)
            self._setup(bus, record)
            return self

        return bus.join(name, cls, create, Role.EVENTS, timeout=DEFAULT_TIMEOUT)

    def post(self, event: Any) -> None:
        """Publish ``event`` (sent with any others still waiting for Redis)."""
        if self._record.closed:
            raise RuntimeError(f"EventChannel {self.name} is closed")
        self._bus.post(self._record, event)
        self._bus.send_unsent(self._record)

    def deliver(self, message: ValueMessage) -> None:
        self._fire(message.value)

    def __repr__(self) -> str:
        return f"<EventChannel {self.name!r}>"


# ----------------------------------------------------------- the process-wide registry
_REGISTRY: Registry[Channel] = Registry()


def bus_for(redis: Any = None) -> Bus:
    """The process's bus for a Redis server, created on first use.

    One bus per server address, as BLISS keeps one per connection: every ``Channel`` of this
    process on that server shares its two connections. ``None`` resolves the default address
    once (``BEACON_HOST``, ``REDIS_URL``, localhost).
    """
    return _REGISTRY.bus_for(redis)


def Cache(device: Any, key: str, **kwargs: Any) -> Channel:
    """The channel ``"<device.name>:<key>"``, remembered for :func:`clear_cache`."""
    try:
        device_name = device.name
    except AttributeError:
        raise TypeError(
            f"Cache: can't create a cache value for key {key}, the device {device} has no name"
        ) from None
    channel = Channel(f"{device_name}:{key}", **kwargs)
    _REGISTRY.remember_cache(device, channel)
    return channel


def clear_cache(*devices: Any) -> None:
    """Set every :func:`Cache` channel of ``devices`` (all if none) back to its default, for
    every holder (the default is published, ``None`` included)."""
    for channel in _REGISTRY.caches(devices):
        channel.value = channel.default_value
