"""The attributes of channels: which channel each shows, as what, and the sample it shows now.

A :class:`Watch` is one BLISS channel we follow (one mirror
:class:`~tango_channels.channel.Channel`); a :class:`View` is one attribute showing it. Most
channels have one view; a BLISS axis state has two (the Tango state, and the state names), and
an axis position takes its quality from its axis's state.

A view queues what happened to its channel, as it came (:meth:`View.record`): a value (the
message, to show as it is), or ``None`` for "what the channel shows now changed" (nobody holds
it any more, the connection, a setting). :func:`sample_from` turns each into a sample, from
what the watch knows: the value, the value BLISS persists in a settings hash while nobody holds
the channel, or why there is nothing to show. It is pure: no I/O, no lock.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tango_channels.channel import Channel
from tango_channels.wire.messages import ValueMessage

from .axes import axis_state_names, is_axis_state, position_quality
from .kinds import Kind, Mismatch, infer_kind
from .lines import ChannelSpec
from .sample import Quality, Sample
from .settings import Persisted

__all__ = ["PENDING_MAX", "Item", "Role", "View", "Watch", "sample_from", "sample_of"]

#: What a view keeps for the publisher; beyond that the oldest are coalesced away.
PENDING_MAX = 256
Item = ValueMessage | None  # a value, as it came; or None: what the channel shows now
_UNKNOWN_STATE = "UNKNOWN"


class Role(enum.Enum):
    VALUE = "value"  # the channel's value, as its kind shows it
    STATE_NAMES = "state names"  # an AxisState's names ("READY LIMPOS"), as a string
    POSITION = "position"  # a float whose quality follows its axis's state


@dataclass(eq=False)
class Watch:
    """One BLISS channel followed through a mirror channel, and the attributes showing it.

    ``on_change(watch, value)`` is called by the channel's callbacks: with ``value`` True for a
    new value (in the reader, or in the thread of a write), False when whether anyone holds it
    changed."""

    name: str
    on_change: Callable[[Watch, bool], None]
    views: list[View] = field(default_factory=list)
    dependents: list[View] = field(default_factory=list)  # views of other channels it affects
    decode_error: str | None = None  # the latest message was undecodable
    channel: Channel = field(init=False)

    def on_value(self, value: Any) -> None:
        self.on_change(self, True)

    def on_holders_changed(self) -> None:
        self.on_change(self, False)


@dataclass(eq=False)
class View:
    """One attribute: the channel it shows (``watch``), as what (``role``, ``kind``)."""

    watch: Watch
    spec: ChannelSpec
    role: Role = Role.VALUE
    kind: Kind | None = None
    attribute: str | None = None  # chosen (attr=) or given once the kind is known
    named: bool = False  # the attribute name is registered: the device may make it
    state_of_axis: Watch | None = None  # POSITION: the axis's state channel
    shown: bool = False  # the device made its attribute and showed its first sample
    sample: Sample | None = None  # the latest sample taken for the publisher
    pending: deque[Item] = field(default_factory=lambda: deque(maxlen=PENDING_MAX))
    dropped: int = 0  # items pushed out of ``pending`` before the publisher took them

    @property
    def name(self) -> str:
        return self.watch.name

    @property
    def writable(self) -> bool:
        return self.spec.writable and self.role is Role.VALUE

    @property
    def key(self) -> str:
        """What identifies the view across Init: its channel, and its role if not the value."""
        return self.name if self.role is not Role.STATE_NAMES else f"{self.name} names"

    def record(self, item: Item) -> None:
        """Queue what happened for the publisher (caller holds the exposure's lock)."""
        if len(self.pending) == PENDING_MAX:
            self.dropped += 1
        self.pending.append(item)

    def __repr__(self) -> str:
        return f"<View {self.name!r} as {self.attribute} ({self.kind}, {self.role.value})>"


def kind_of(held: ValueMessage | None) -> Kind | None:
    """The kind a channel without type= gets from its value (None: no value says it yet)."""
    return infer_kind(held.value) if held is not None else None


def _short(value: Any) -> str:
    if is_axis_state(value):
        return " ".join(axis_state_names(value))
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


def sample_from(
    view: View,
    item: Item,
    connected: bool,
    persisted: Persisted | None,
    why_not_connected: Callable[[], str],
) -> Sample:
    """The sample of one queued item: a value as it came, or (None) what ``view`` shows now.
    ``persisted``: the view's settings field at the last poll, if any."""
    if item is not None and connected and not view.watch.decode_error:
        return _value(view, item)
    return sample_of(view, connected, persisted, why_not_connected)


def sample_of(
    view: View,
    connected: bool,
    persisted: Persisted | None,
    why_not_connected: Callable[[], str],
) -> Sample:
    """What ``view`` shows now (see the module docstring)."""
    channel = view.watch.channel
    held = channel.held
    now = time.time()
    if not connected:
        # The last value is no longer vouched for: shown, but INVALID (events say so too);
        # that happens now.
        if held is not None:
            shown = _value(view, held)
            return Sample(shown.value, now, Quality.INVALID, shown.error)
        why = why_not_connected()
        return Sample.failed(f"channel {view.name} has no value: {why}", now, True)
    if view.watch.decode_error and held is not None:
        return Sample.failed(view.watch.decode_error, held.timestamp)
    if held is not None and channel.live:
        return _value(view, held)
    if persisted is not None:
        return _persisted(view, persisted, channel.abandoned)
    if view.kind is not None and view.kind.name == "state":
        return Sample(_UNKNOWN_STATE, channel.abandoned or now, Quality.VALID)
    abandoned = channel.abandoned
    if held is not None and abandoned is not None:
        return Sample.failed(
            f"no BLISS process holds {view.name} since {_clock(abandoned)} "
            f"(last value {_short(held.value)})",
            abandoned,
            absent=True,
        )
    return Sample.failed(
        f"channel {view.name} has no value yet ({channel.why_no_value()})", now, absent=True
    )


def _value(view: View, held: ValueMessage) -> Sample:
    """A held value as ``view`` shows it."""
    value = held.value
    kind = view.kind
    if view.role is Role.STATE_NAMES:
        if value is None:
            return Sample(None, held.timestamp, Quality.INVALID)
        if not is_axis_state(value):
            return Sample.failed(f"channel {view.name}: not an AxisState", held.timestamp)
        return Sample(" ".join(axis_state_names(value)), held.timestamp, Quality.VALID)
    assert kind is not None
    if value is None:
        if kind.name == "state":  # a session just started holds None: the state is unknown
            return Sample(_UNKNOWN_STATE, held.timestamp, Quality.VALID)
        return Sample(None, held.timestamp, Quality.INVALID)
    try:
        converted = kind.convert(value)
    except Mismatch as exc:
        return Sample.failed(
            f"channel {view.name}: {exc} (attribute type {kind})", held.timestamp
        )
    return Sample(converted, held.timestamp, _quality(view))


def _persisted(view: View, persisted: Persisted, abandoned: float | None) -> Sample:
    """The value BLISS persisted, shown while no session holds the channel."""
    timestamp = max(persisted.since, abandoned or 0.0)
    if persisted.value is None:
        return Sample(None, timestamp, Quality.INVALID)
    kind = view.kind or infer_kind(persisted.value)
    assert kind is not None
    try:
        return Sample(kind.convert(persisted.value), timestamp, Quality.VALID)
    except Mismatch as exc:
        error = f"setting {view.spec.setting}: {exc} (attribute type {kind})"
        return Sample.failed(error, timestamp)


def _quality(view: View) -> Quality:
    if view.role is not Role.POSITION or view.state_of_axis is None:
        return Quality.VALID
    state = view.state_of_axis.channel
    held = state.held
    if held is None or not state.live or not is_axis_state(held.value):
        return Quality.VALID
    return position_quality(axis_state_names(held.value))
