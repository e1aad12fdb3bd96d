"""One attribute: everything the device knows of it, in one record.

An :class:`AttributeRecord` is one Tango attribute showing one BLISS channel: its line and kind,
its name, the sample it shows now, its event criteria and the state they keep, its alarm
standing and the timestamp of its last event. A channel's
:class:`~tango_channels_device.bridge.feed.Feed` hands the publisher, for each record, what
happened to the channel, as it happened: a value with its own source time (the
:class:`~tango_channels.wire.messages.ValueMessage` that carried it), a message that could not
be decoded (:class:`BadMessage`), or ``None`` for "what the channel shows now changed" (nobody
holds it any more, the connection, a setting, its axis's state).

Ownership: the publisher thread (:mod:`tango_channels_device.bridge.publisher`) alone changes
a record; other threads read :attr:`AttributeRecord.shown`, one reference, replaced whole. The
publisher turns each item into a :class:`~tango_channels_device.bridge.sample.Sample`
(:meth:`AttributeRecord.sample`), then into the events it makes
(:meth:`AttributeRecord.show`): change and archive events as Tango's criteria say, an alarm
event when the alarm standing changes, each stamped strictly later than the one before. Pure
code: no Tango, no I/O, the time passed in.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from tango_channels.wire.messages import ValueMessage

from .axes import axis_state_names, is_axis_state, position_quality
from .criteria import Criteria, EventFilter, alarm_of
from .kinds import Kind, Mismatch, infer_kind
from .lines import ChannelSpec
from .sample import REDIS_UNREACHABLE, Quality, Sample
from .settings import Persisted, SettingSource

if TYPE_CHECKING:
    from .feed import Feed

__all__ = [
    "AttributeRecord",
    "BadMessage",
    "Context",
    "EventKind",
    "Item",
    "Push",
    "Role",
    "alarm_level",
]

_UNKNOWN_STATE = "UNKNOWN"
_ALARMS = (Quality.ALARM, Quality.WARNING)


class BadMessage(NamedTuple):
    """The channel's latest message could not be decoded (``error`` says why)."""

    error: str


#: What happened to a channel, for each of its attributes: a value as it came, an undecodable
#: message, or None: what the channel shows now changed.
Item = ValueMessage | BadMessage | None


class Role(enum.Enum):
    VALUE = "value"  # the channel's value, as its kind shows it
    STATE_NAMES = "state names"  # an AxisState's names ("READY LIMPOS"), as a string
    POSITION = "position"  # a float whose quality follows its axis's state


class EventKind(enum.Enum):
    CHANGE = "change"
    ARCHIVE = "archive"
    ALARM = "alarm"


class Push(NamedTuple):
    """An event to push: its kind, and the sample with the event's timestamp."""

    kind: EventKind
    sample: Sample


@dataclass(frozen=True)
class Context:
    """What a sample depends on besides its channel: the connection, and the values BLISS
    persisted in its settings hashes at the last poll."""

    connected: bool
    why_not_connected: str
    persisted: Callable[[SettingSource], Persisted | None]


@dataclass(eq=False, slots=True)
class AttributeRecord:
    """One attribute (see the module docstring). Owner: the publisher thread."""

    feed: Feed
    spec: ChannelSpec
    role: Role = Role.VALUE
    kind: Kind | None = None
    name: str | None = None  # the attribute's name: chosen (attr=), or given once the kind is
    named: bool = False  # the name is registered: the device may make the attribute
    created: bool = False  # the attribute exists and shows this record
    state_of_axis: Feed | None = None  # POSITION: the axis's state channel
    waiting: list[Item] | None = None  # items that came before its attribute was made
    shown: Sample | None = None  # what reads return: replaced whole, never changed in place
    filter: EventFilter | None = None
    criteria_read_at: float = -math.inf  # monotonic
    last_stamp: float | None = None  # the timestamp of its last event
    alarm: tuple[str, str] | None = None  # ("ALARM" or "WARNING", why) while in alarm
    alarm_standing: str = ""  # what its last alarm event said: "", ALARM, WARNING, error
    decode_error: str | None = None  # the latest message was undecodable
    removed: bool = False  # no longer exposed (RemoveChannel, Init): nothing more is shown
    refused: str | None = None  # why the device could not make its attribute
    # The message the sample being shown came from, and what the last one shown was: a
    # value shown again unchanged (asked what the channel shows now after its message was
    # shown, or after Init) makes no event: it is not a new value. A value is its sender and
    # source time, as BLISS tells values apart.
    _source: ValueMessage | None = None
    _last: tuple[str, float, float, Quality, str | None] | None = None
    # The last value handed to this record: what "the channel shows now" shows, never the
    # channel's own latest (values still waiting in the inbox come after it, in order).
    _message: ValueMessage | None = None

    @property
    def channel(self) -> str:
        return self.feed.name

    @property
    def key(self) -> str:
        """What identifies the attribute across Init: its channel, and its role if not the
        value."""
        return self.channel if self.role is not Role.STATE_NAMES else f"{self.channel} names"

    @property
    def writable(self) -> bool:
        return self.spec.writable and self.role is Role.VALUE

    @property
    def numeric(self) -> bool:
        return self.kind is not None and self.kind.numeric

    def __repr__(self) -> str:
        return f"<AttributeRecord {self.channel!r} as {self.name} ({self.kind}, {self.role.value})>"

    # ------------------------------------------------------------------ samples
    def sample(self, item: Item, context: Context, now: float) -> Sample:
        """The sample of one item: a value as it came, or what the channel shows now."""
        self._source = None
        if type(item) is BadMessage:
            self.decode_error = item.error
            held = self._message
            return Sample.failed(item.error, held.timestamp if held is not None else now)
        if type(item) is ValueMessage:
            self.decode_error = None
            self._message = item
            if context.connected:
                self._source = item
                return self._value(item)
        return self._standing(context, now)

    def _standing(self, context: Context, now: float) -> Sample:
        channel = self.feed.channel
        held = self._message
        if not context.connected:
            last = f" (last value {_short(held.value)})" if held is not None else ""
            return Sample.failed(
                f"channel {self.channel}: {context.why_not_connected}{last}",
                now,
                reason=REDIS_UNREACHABLE,
            )
        if self.decode_error and held is not None:
            return Sample.failed(self.decode_error, held.timestamp)
        if held is not None and channel.live:
            self._source = held
            return self._value(held)
        persisted = context.persisted(self.spec.setting) if self.spec.setting else None
        if persisted is not None:
            return self._persisted(persisted, channel.abandoned)
        if self.kind is not None and self.kind.name == "state":
            return Sample(_UNKNOWN_STATE, channel.abandoned or now, Quality.VALID)
        abandoned = channel.abandoned
        if held is not None and abandoned is not None:
            return Sample.failed(
                f"no BLISS process holds {self.channel} since {_clock(abandoned)} "
                f"(last value {_short(held.value)})",
                abandoned,
                absent=True,
            )
        return Sample.failed(
            f"channel {self.channel} has no value yet ({channel.why_no_value()})", now, absent=True
        )

    def _value(self, held: ValueMessage) -> Sample:
        """A value as this attribute shows it."""
        value = held.value
        if self.role is Role.STATE_NAMES:
            if value is None:
                return Sample(None, held.timestamp, Quality.INVALID)
            if not is_axis_state(value):
                return Sample.failed(f"channel {self.channel}: not an AxisState", held.timestamp)
            return Sample(" ".join(axis_state_names(value)), held.timestamp, Quality.VALID)
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
        if self.role is not Role.POSITION or self.state_of_axis is None:
            return Quality.VALID
        state = self.state_of_axis.channel
        held = state.held
        if held is None or not state.live or not is_axis_state(held.value):
            return Quality.VALID
        return position_quality(axis_state_names(held.value))

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

    def continue_from(self, before: AttributeRecord) -> None:
        """Go on from the record that showed the same attribute before Init: its events go
        on from where that one's stopped (timestamps, criteria, alarm standing), and the
        value it showed last is not shown again as a new one."""
        self.shown = before.shown
        self.filter = before.filter
        self.last_stamp = before.last_stamp
        self.alarm_standing = before.alarm_standing
        self._last = before._last

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
        if last is not None and timestamp <= last:
            timestamp = max(now, last + 1e-6)
        self.last_stamp = timestamp
        return sample if timestamp == sample.timestamp else sample.at(timestamp)

    def _quality_reason(self, sample: Sample) -> str:
        """Why a sample is ALARM without an alarm limit saying so: its axis (a limit switch,
        a fault), as a Tango motor would be."""
        state = self.state_of_axis.channel.held if self.state_of_axis is not None else None
        if state is not None and is_axis_state(state.value):
            names = " ".join(axis_state_names(state.value))
            return f"{self.name}: axis {self.channel.split('.')[1]} is {names}"
        return f"{self.name} is {sample.quality.name}"


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


def _short(value: Any) -> str:
    if is_axis_state(value):
        return " ".join(axis_state_names(value))
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))
