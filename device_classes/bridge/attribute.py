"""One attribute: everything the device knows of it, in one record.

An :class:`AttributeRecord` is one Tango attribute of one device, showing one BLISS channel
(or one :class:`View` of it): its line and kind, its name, its place in the attribute's
life (:mod:`~tango_channels_device.bridge.lifecycle`), the sample it shows now, its event
criteria and the state they keep, its alarm standing and the timestamp of its last event.

A channel's :class:`~tango_channels_device.bridge.feed.Feed` hands the publisher, for each
record, what happened to the channel, in the order it happened (an :data:`Item`): a value
with its own source time (the :class:`~tango_channels.wire.messages.ValueMessage` that
carried it), a message that could not be decoded (:class:`BadMessage`), the channel's
:class:`~tango_channels.protocol.Standing` when whether anyone holds it changed (made by the
bus under its lock: the record never reads the bus's live state), the connection's
(:class:`Connection`), the standing of the axis state a position follows
(:class:`AxisStateItem`), or ``None`` for "show what you have again" (a setting polled, the
criteria changed).

Ownership: the publisher thread (:mod:`tango_channels_device.bridge.publisher`) alone changes
a record; other threads read :attr:`AttributeRecord.shown`, one reference, replaced whole
(a retired attribute's is the error that says why). The publisher turns each item into a
:class:`~tango_channels_device.bridge.sample.Sample` (:meth:`AttributeRecord.sample`), then
into the events it makes (:meth:`AttributeRecord.show`): change and archive events as
Tango's criteria say, an alarm event when the alarm standing changes, each stamped strictly
later than the one before. Pure code: no Tango, no I/O, the time passed in.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy

from tango_channels.protocol import Standing
from tango_channels.wire.messages import ValueMessage

from .axes import axis_state_names, is_axis_state, position_quality
from .criteria import Criteria, EventFilter, alarm_of
from .kinds import Kind, Mismatch, infer_kind
from .lifecycle import Phase
from .lines import ChannelSpec
from .sample import REDIS_UNREACHABLE, RETIRED, Quality, Sample
from .settings import Persisted, SettingSource

__all__ = [
    "EVENT_BITS",
    "AttributeRecord",
    "AxisStateItem",
    "BadMessage",
    "Connection",
    "Context",
    "EventKind",
    "Item",
    "Push",
    "View",
    "alarm_level",
    "attribute_key",
]

_UNKNOWN_STATE = "UNKNOWN"
_ALARMS = (Quality.ALARM, Quality.WARNING)


class BadMessage(NamedTuple):
    """The channel's latest message could not be decoded (``error`` says why)."""

    error: str


class Connection(NamedTuple):
    """The bus's connection to Redis changed: ``connected``, or why not (for people)."""

    connected: bool
    why: str


class AxisStateItem(NamedTuple):
    """The axis state a position follows stands so now (its quality follows it)."""

    standing: Standing


#: What happened to a channel, for each of its attributes, in order: a value as it came, an
#: undecodable message, whether anyone holds it, the connection, the axis state it follows, or
#: None: show what you have again.
Item = ValueMessage | BadMessage | Standing | Connection | AxisStateItem | None

_CONNECTED = Connection(True, "")


class View(enum.Enum):
    """What an attribute shows of its channel."""

    VALUE = "value"  # the channel's value, as its kind shows it
    STATE_NAMES = "state names"  # an AxisState's names ("READY LIMPOS"), as a string
    POSITION = "position"  # a float whose quality follows its axis's state
    LIMIT_SWITCHES = "limit switches"  # an AxisState as [home, upper, lower] switches


class EventKind(enum.Enum):
    CHANGE = "change"
    ARCHIVE = "archive"
    ALARM = "alarm"


#: Each kind of event as a bit, for a set of kinds held in one int.
EVENT_BITS = {EventKind.CHANGE: 1, EventKind.ARCHIVE: 2, EventKind.ALARM: 4}


class Push(NamedTuple):
    """An event to push: its kind, and the sample with the event's timestamp."""

    kind: EventKind
    sample: Sample


# The least time between two events of an attribute: Tango's timestamps are microseconds,
# and a float near 1.8e9 s converts to them within half of one (two, to stay distinct).
STAMP_GAP = 2e-6


@dataclass(frozen=True)
class Context:
    """What a sample depends on besides its channel: the values BLISS persisted in its
    settings hashes at the last poll."""

    persisted: Callable[[SettingSource], Persisted | None]


@dataclass(eq=False, slots=True)
class AttributeRecord:
    """One attribute (see the module docstring). Owner: the publisher thread."""

    channel: str
    spec: ChannelSpec  # the line that exposes it (the first that matches, see the catalogue)
    view: View = View.VALUE
    kind: Kind | None = None
    name: str | None = None  # the attribute's name: chosen (attr=), or given once the kind is
    owner: Any = None  # the device whose attribute it is (the publisher's DeviceBridge)
    phase: Phase = Phase.UNTYPED
    attempts: int = 0  # PENDING: turns the device stayed too busy to make it
    why: str = ""  # REFUSED, RETIRED: why it shows nothing
    axis_state: str | None = None  # POSITION: the channel of the axis state it follows
    waiting: list[Item] | None = None  # items that came before its attribute was made
    shown: Sample | None = None  # what reads return: replaced whole, never changed in place
    filter: EventFilter | None = None
    criteria_read_at: float = -math.inf  # monotonic
    listening: int = 0  # the EventKinds a client subscribed to, last time it was asked
    last_stamp: float | None = None  # the timestamp of its last event
    alarm: tuple[str, str] | None = None  # ("ALARM" or "WARNING", why) while in alarm
    alarm_standing: str = ""  # what its last alarm event said: "", ALARM, WARNING, error
    decode_error: str | None = None  # the latest message was undecodable
    # The message the sample being shown came from, and what the last one shown was: a
    # value shown again unchanged (asked what the channel shows now after its message was
    # shown, or after Init) makes no event: it is not a new value. A value is its sender and
    # source time, as BLISS tells values apart.
    _source: ValueMessage | None = None
    _last: tuple[str, float, float, Quality, str | None] | None = None
    # The last value handed to this record: what "the channel shows now" shows, never the
    # channel's own latest (values still waiting in the queue come after it, in order).
    _message: ValueMessage | None = None
    # How its channel stands (whether anyone holds it), the connection, and the axis state
    # a position follows, as the items handed to it said, in order.
    _standing: Standing | None = None
    _connection: Connection = _CONNECTED
    _axis_standing: Standing | None = None

    @property
    def key(self) -> str:
        """What identifies the attribute in its device (see :func:`attribute_key`)."""
        return attribute_key(self.channel, self.view)

    @property
    def writable(self) -> bool:
        return self.spec.writable and self.view is View.VALUE

    @property
    def numeric(self) -> bool:
        return self.kind is not None and self.kind.numeric

    @property
    def live(self) -> bool:
        """Whether a process holds its channel, as the last items said."""
        if self._standing is not None:
            return self._standing.live and self._message is not None
        return self._message is not None

    @property
    def abandoned(self) -> float | None:
        """Since when nobody holds its channel (None: someone does, or it never had a value)."""
        standing = self._standing
        return standing.abandoned if standing is not None and not self.live else None

    @property
    def settled(self) -> bool:
        """Whether its channel's first value is known (or that nobody holds one)."""
        return self._message is not None or (self._standing is not None and self._standing.settled)

    @property
    def held(self) -> ValueMessage | None:
        """The last value handed to it."""
        return self._message

    def why_no_value(self) -> str:
        if not self._connection.connected:
            return self._connection.why
        standing = self._standing
        return standing.why_no_value if standing is not None else "not subscribed yet"

    def forget_last(self) -> None:
        """Its next sample makes events even if it is the value shown last (shown again
        after it was retired: the clients that stayed subscribed saw the error since)."""
        self._last = None

    def retire(self, why: str, now: float) -> None:
        """Its attribute shows nothing any more: reads raise ``why`` (see lifecycle)."""
        self.why = why
        self.shown = Sample.failed(why, now, reason=RETIRED)

    def __repr__(self) -> str:
        return (
            f"<AttributeRecord {self.channel!r} as {self.name} ({self.kind}, {self.view.value}, "
            f"{self.phase.value})>"
        )

    # ------------------------------------------------------------------ samples
    def take(self, item: Item) -> ValueMessage | None:
        """Keep what ``item`` says of the channel's standing (the connection, holders, the
        axis state); a value comes back, to show."""
        kind = type(item)
        if kind is ValueMessage:
            self.decode_error = None
            self._message = item  # type: ignore[assignment]
            self._standing = None  # a value came: someone holds it
            return item  # type: ignore[return-value]
        if kind is Standing:
            held, message = item.held, self._message  # type: ignore[union-attr]
            if message is not None and (held is None or message.is_newer_than(held)):
                return None  # taken before a value already handed: says nothing newer
            self._standing = item  # type: ignore[assignment]
            self._message = held
        elif kind is Connection:
            self._connection = item  # type: ignore[assignment]
        elif kind is AxisStateItem:
            self._axis_standing = item.standing  # type: ignore[union-attr]
        elif kind is BadMessage:
            self.decode_error = item.error  # type: ignore[union-attr]
        return None

    def sample(self, item: Item, context: Context, now: float) -> Sample:
        """The sample of one item: a value as it came, or what the channel shows now."""
        self._source = None
        message = self.take(item)
        if type(item) is BadMessage:
            held = self._message
            return Sample.failed(item.error, held.timestamp if held is not None else now)
        if message is not None and self._connection.connected:
            self._source = message
            return self._value(message)
        return self._now(context, now)

    def _now(self, context: Context, now: float) -> Sample:
        """What the channel shows now, without a new value."""
        held = self._message
        if not self._connection.connected:
            last = f" (last value {_short(held.value)})" if held is not None else ""
            return Sample.failed(
                f"channel {self.channel}: {self._connection.why}{last}",
                now,
                reason=REDIS_UNREACHABLE,
            )
        if self.decode_error and held is not None:
            return Sample.failed(self.decode_error, held.timestamp)
        if held is not None and self.live:
            self._source = held
            return self._value(held)
        abandoned = self.abandoned
        persisted = context.persisted(self.spec.setting) if self.spec.setting else None
        if persisted is not None:
            return self._persisted(persisted, abandoned)
        if self.kind is not None and self.kind.name == "state":
            return Sample(_UNKNOWN_STATE, abandoned or now, Quality.VALID)
        if held is not None and abandoned is not None:
            return Sample.failed(
                f"no BLISS process holds {self.channel} since {_clock(abandoned)} "
                f"(last value {_short(held.value)})",
                abandoned,
                absent=True,
            )
        return Sample.failed(
            f"channel {self.channel} has no value yet ({self.why_no_value()})", now, absent=True
        )

    def _value(self, held: ValueMessage) -> Sample:
        """A value as this attribute shows it."""
        value = held.value
        view = self.view
        if view is View.STATE_NAMES or view is View.LIMIT_SWITCHES:
            if value is None:
                return Sample(None, held.timestamp, Quality.INVALID)
            if not is_axis_state(value):
                return Sample.failed(f"channel {self.channel}: not an AxisState", held.timestamp)
            names = axis_state_names(value)
            if view is View.STATE_NAMES:
                return Sample(" ".join(names), held.timestamp, Quality.VALID)
            return _switches(names, held.timestamp)
        kind = self.kind
        assert kind is not None
        if value is None:
            if kind.name == "state":  # a session just started holds None: the state is unknown
                return Sample(_UNKNOWN_STATE, held.timestamp, Quality.VALID)
            return Sample(None, held.timestamp, Quality.INVALID)
        try:
            converted = kind.convert(value)
        except Mismatch as exc:
            return Sample.failed(
                f"channel {self.channel}: {exc} (attribute type {kind})", held.timestamp
            )
        return Sample(converted, held.timestamp, self._quality())

    def _persisted(self, persisted: Persisted, abandoned: float | None) -> Sample:
        """The value BLISS persisted, shown while no session holds the channel."""
        timestamp = max(persisted.since, abandoned or 0.0)
        if persisted.value is None:
            return Sample(None, timestamp, Quality.INVALID)
        kind = self.kind or infer_kind(persisted.value)
        assert kind is not None
        try:
            return Sample(kind.convert(persisted.value), timestamp, Quality.VALID)
        except Mismatch as exc:
            error = f"setting {self.spec.setting}: {exc} (attribute type {kind})"
            return Sample.failed(error, timestamp)

    def _quality(self) -> Quality:
        names = self._axis_state_names()
        return Quality.VALID if names is None else position_quality(names)

    def _axis_state_names(self) -> list[str] | None:
        """The states of the axis a position follows, while someone holds them."""
        standing = self._axis_standing
        if self.view is not View.POSITION or standing is None or not standing.live:
            return None
        held = standing.held
        return axis_state_names(held.value) if held and is_axis_state(held.value) else None

    # ------------------------------------------------------------------ events
    def set_criteria(self, criteria: Criteria, read_at: float) -> bool:
        """The attribute's criteria as Tango has them now; True if they changed."""
        self.criteria_read_at = read_at
        events = self._filter()
        changed = criteria != events.criteria
        events.criteria = criteria
        return changed

    def show(self, sample: Sample, now: float) -> list[Push]:
        """Show ``sample`` (reads return it from now on) and return the events it makes:
        alarm limits applied, criteria honoured, each event stamped strictly after the one
        before (the value's source time, or now for errors)."""
        events = self._filter()
        if sample.error is None:
            alarm = ""
            if events.criteria.has_alarms:
                quality, alarm = alarm_of(
                    sample.value, sample.quality, events.criteria, self.name or self.channel
                )
                if quality is not sample.quality:
                    sample = sample.with_quality(quality)
            if alarm or sample.quality in _ALARMS:
                why = alarm or self._quality_reason(sample)
                self.alarm = (sample.quality.name, why)
            else:
                self.alarm = None
        else:
            self.alarm = None
        source = self._source
        if source is not None:
            last = (
                source.sender_id, source.timestamp, sample.timestamp, sample.quality, sample.error
            )
            if last == self._last:
                return []  # the same value shown again, unchanged: nothing new
            self._last = last
        else:
            self._last = None
        kinds = []
        if events.change(sample):
            kinds.append(EventKind.CHANGE)
        if events.archive(sample, now):
            kinds.append(EventKind.ARCHIVE)
        standing = alarm_level(sample, self.kind)
        if standing != self.alarm_standing:
            self.alarm_standing = standing
            kinds.append(EventKind.ALARM)
        if kinds:
            sample = self._stamped(sample, now, periodic=False)
        self.shown = sample
        return [Push(kind, sample) for kind in kinds]

    def periodic_archive(self, now: float) -> Push | None:
        """The archive event ``archive_period`` asks for now, if any: the sample shown, now."""
        events = self.filter
        shown = self.shown
        if events is None or shown is None or not events.archive_due(now):
            return None
        events.archive(shown, now)
        return Push(EventKind.ARCHIVE, self._stamped(shown, now, periodic=True))

    @property
    def periodic(self) -> bool:
        return self.filter is not None and self.filter.criteria.archive_period is not None

    def _filter(self) -> EventFilter:
        if self.filter is None:
            self.filter = EventFilter(numeric=self.numeric)
        return self.filter

    def _stamped(self, sample: Sample, now: float, periodic: bool) -> Sample:
        """The event's timestamp: the value's source time, strictly later than the previous
        event of the attribute (archivers key on it); an error and a periodic event happen
        now."""
        now_is_when = periodic or (sample.error is not None and not sample.absent)
        timestamp = now if now_is_when else sample.timestamp
        last = self.last_stamp
        if last is not None and timestamp < last + STAMP_GAP:
            # Tango keeps microseconds: two source times less than one apart (an axis's
            # state and position set together) would make two events of one time.
            timestamp = max(now, last + STAMP_GAP)
        self.last_stamp = timestamp
        return sample if timestamp == sample.timestamp else sample.at(timestamp)

    def _quality_reason(self, sample: Sample) -> str:
        """Why a sample is ALARM without an alarm limit saying so: its axis (a limit switch,
        a fault), as a Tango motor would be."""
        names = self._axis_state_names()
        if names is not None:
            return f"{self.name}: axis {self.channel.split('.')[1]} is {' '.join(names)}"
        if self.view is View.LIMIT_SWITCHES:
            return f"{self.name}: axis {self.channel.split('.')[1]} is on a limit switch"
        return f"{self.name} is {sample.quality.name}"


def attribute_key(channel: str, view: View) -> str:
    """What identifies an attribute in its device: its channel, and the view unless it shows
    the channel's value (a position is its channel's value too)."""
    if view is View.VALUE or view is View.POSITION:
        return channel
    return f"{channel} names" if view is View.STATE_NAMES else f"{channel} {view.value}"


def alarm_level(sample: Sample, kind: Kind | None) -> str:
    """What an alarm handler is told about: ALARM or WARNING quality (a DevState attribute in
    state ALARM: an axis on a limit switch), an error, or nothing ("")."""
    if sample.error is not None:
        return "" if sample.absent else "error"
    if sample.quality in _ALARMS:
        return sample.quality.name
    if kind is not None and kind.name == "state" and sample.value == "ALARM":
        return "ALARM"
    return ""


def _switches(names: list[str], timestamp: float) -> Sample:
    """An axis's limit switches as Tango motors show them (Sardana's ``Limit_Switches``):
    home, upper, lower; ALARM on a limit."""
    upper, lower = "LIMPOS" in names, "LIMNEG" in names
    quality = Quality.ALARM if upper or lower else Quality.VALID
    return Sample(numpy.array(["HOME" in names, upper, lower]), timestamp, quality)


def _short(value: Any) -> str:
    if is_axis_state(value):
        return " ".join(axis_state_names(value))
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))
