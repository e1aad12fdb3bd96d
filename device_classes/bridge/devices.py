"""The Tango-free half of each device: what it wants shown, its attributes, how it says State.

A :class:`DeviceBridge` is one Tango device as the publisher serves it: where its Redis is
(and where that address came from), its :class:`Sink` (the device's Tango half, or a test's
fake), its one attribute table (:attr:`DeviceBridge.records`, by key, and by attribute name:
it lives as long as the device object, Init included), its counters and its State and
Status. Two kinds:

- :class:`ChannelsBridge`, a BeaconChannels device: its ``Channels`` and ``Axes`` lines
  (:class:`~tango_channels_device.bridge.catalogue.Catalogue`) say what it shows; attribute
  names follow the naming rule; State and Status are
  :func:`~tango_channels_device.bridge.status.channels_state`'s.
- :class:`AxisBridge`, a BeaconAxis device: one BLISS axis, its attributes fixed (a motor's:
  ``Position``, ``State``, ``Limit_Switches``...); Status is
  :func:`~tango_channels_device.bridge.status.axis_status`'s, State its axis state's own.

What a device wants is a pure function of its configuration and what the survey found
(:meth:`DeviceBridge.wanted`); the publisher makes the table match it.

Ownership: the publisher thread alone changes a bridge once it is attached
(:mod:`~tango_channels_device.bridge.publisher`); other threads read
:attr:`DeviceBridge.names`, :attr:`DeviceBridge.counters` and records' ``shown`` samples, each
one reference replaced whole, and ask the publisher for anything else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tango_channels.transport.address import RedisAddress

from .attribute import AttributeRecord, Context, EventKind, View
from .axes import AXIS_SETTINGS
from .catalogue import Catalogue, SurveyPlan, Want, axis_channel_spec
from .criteria import Criteria
from .kinds import parse_kind
from .lines import AxisSpec
from .naming import AttributeNamer
from .sample import Sample
from .settings import SettingSource
from .status import DeviceState, Situation, axis_status, channels_state

__all__ = [
    "AXIS_ATTRIBUTES",
    "AxisBridge",
    "Busy",
    "ChannelsBridge",
    "Counters",
    "DeviceBridge",
    "Sink",
]


@dataclass
class Counters:
    """What a device did, for operators to archive (its counter attributes)."""

    values_received: int = 0
    events_pushed: int = 0
    values_coalesced: int = 0
    undecodable_messages: int = 0


class Busy(Exception):
    """The device stayed busy (its monitor held) past the time to make an attribute."""


class Sink(Protocol):
    """What the publisher needs of one device's Tango half (``tango_attributes``,
    ``tango_axis``), or of a test's fake."""

    def create(self, records: list[AttributeRecord]) -> dict[AttributeRecord, str]:
        """Make the attributes of ``records``: why each that could not be made was not (the
        others were). Raises :class:`Busy`."""

    def listening(self, record: AttributeRecord) -> int:
        """The kinds of events clients subscribed to on the record's attribute, as a sum of
        :data:`~tango_channels_device.bridge.attribute.EVENT_BITS` (0: none)."""

    def criteria(self, record: AttributeRecord) -> Criteria | None:
        """The attribute's criteria and alarm limits as Tango has them (None: unreadable)."""

    def push(self, record: AttributeRecord, kind: EventKind, sample: Sample) -> bool:
        """Push one event; False if Tango refused it."""

    def retire(self, record: AttributeRecord) -> None:
        """The record's attribute shows nothing any more: its reads raise
        ``record.shown``'s error; push that as an error event."""

    def show_state(self, state: DeviceState) -> None:
        """State (unless empty) and Status changed: set them, push their events."""

    def show_counters(self, counters: Counters) -> None: ...

    def show_names(self, names: list[str]) -> None:
        """The exposed channels changed (``ChannelNames``)."""


_NO_SETTINGS = Context(lambda source: None)


class DeviceBridge:
    """One device, as the publisher serves it (see the module docstring). ``source`` says
    where ``address`` came from (a property, Beacon, the environment), for Status."""

    reserved: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        sink: Sink,
        address: RedisAddress,
        source: str = "",
        trusted_modules: tuple[str, ...] = ("bliss.",),
    ) -> None:
        self.name = name
        self.sink = sink
        self.address = address
        self.source = source
        self.trusted_modules = trusted_modules
        self.records: dict[str, AttributeRecord] = {}  # by key: the one attribute table
        self.by_name: dict[str, AttributeRecord] = {}  # by attribute name, lower case
        self.namer = AttributeNamer(self.reserved)
        self.counters = Counters()
        self.counted = Counters()  # what the counter attributes showed last
        self.counted_at = -1e9  # monotonic
        self.state = DeviceState("FAULT", "Starting.")
        self.state_due = 0.0  # monotonic: when State and Status are looked at again
        self.names: list[str] = []  # the channels exposed: replaced whole (read by clients)
        self.context = _NO_SETTINGS  # its Redis's (settings read there), while attached
        # Seconds between two looks of the survey of its Redis (the shortest any device of a
        # Redis asks for is taken).
        self.discovery_period = 2.0
        self.settings_period = 2.0
        self.errors: list[str] = []  # why attributes could not be made (until Init)

    @property
    def about(self) -> dict[str, str]:
        """``extra=`` of a log record about this device (its Tango log alone gets it)."""
        return {"device": self.name}

    def wanted(self) -> dict[str, Want]:
        """The attributes the device should show now, by key."""
        raise NotImplementedError

    def plan(self, followed: Iterable[str]) -> SurveyPlan:
        """What the survey looks for on the device's behalf (``followed``: its Redis's
        channels)."""
        return SurveyPlan(followed=tuple(followed), settings=self.settings())

    def settings(self) -> tuple[SettingSource, ...]:
        return tuple(
            sorted({r.spec.setting for r in self.records.values() if r.spec.setting}, key=str)
        )

    def name_for(self, want: Want, record: AttributeRecord) -> str:
        """The attribute name of a record whose kind is known (given once, kept)."""
        if want.name is not None:
            return want.name
        return self.namer.assign([record.key])[record.key]

    def claim(self, want: Want) -> str | None:
        """The name a line chooses (``attr=``), reserved; raises NameTaken."""
        return None

    def situation_errors(self) -> list[str]:
        return list(self.errors)

    def state_now(self, situation: Situation) -> DeviceState:
        raise NotImplementedError


class ChannelsBridge(DeviceBridge):
    """A BeaconChannels device (see the module docstring)."""

    def __init__(
        self,
        name: str,
        sink: Sink,
        address: RedisAddress,
        source: str = "",
        *,
        reserved: Iterable[str] = (),
        trusted_modules: tuple[str, ...] = ("bliss.",),
    ) -> None:
        self.reserved = tuple(reserved)
        super().__init__(name, sink, address, source, trusted_modules)
        self.catalogue = Catalogue()
        self.refused: list[str] = []  # lines the catalogue's wants could not be given

    def wanted(self) -> dict[str, Want]:
        return self.catalogue.wanted()

    def plan(self, followed: Iterable[str]) -> SurveyPlan:
        return self.catalogue.plan(followed, self.settings())

    def claim(self, want: Want) -> str | None:
        chosen = want.spec.attr
        if not chosen:
            return None
        return self.namer.take(chosen)

    def situation_errors(self) -> list[str]:
        return [
            *self.catalogue.line_errors,
            *self.refused,
            *self.catalogue.refused_globs(),
            *self.errors,
        ]

    def state_now(self, situation: Situation) -> DeviceState:
        return channels_state(situation)


#: A motor device's attributes: (attribute, axis setting, view), in the order Jive lists them.
#: ``low_limit`` and ``high_limit`` are Position's min_value and max_value, not attributes.
AXIS_ATTRIBUTES: tuple[tuple[str, str, View], ...] = (
    ("Position", "position", View.POSITION),
    ("DialPosition", "dial_position", View.VALUE),
    ("SetPosition", "_set_position", View.VALUE),
    ("Offset", "offset", View.VALUE),
    ("Sign", "sign", View.VALUE),
    ("Velocity", "velocity", View.VALUE),
    ("Acceleration", "acceleration", View.VALUE),
    ("Backlash", "backlash", View.VALUE),
    ("StepsPerUnit", "steps_per_unit", View.VALUE),
    ("State", "state", View.VALUE),
    ("Limit_Switches", "state", View.LIMIT_SWITCHES),
    ("low_limit", "low_limit", View.VALUE),
    ("high_limit", "high_limit", View.VALUE),
)
LIMITS = ("low_limit", "high_limit")


class AxisBridge(DeviceBridge):
    """A BeaconAxis device: BLISS axis ``axis`` (see the module docstring)."""

    def __init__(self, name: str, sink: Sink, address: RedisAddress, source: str, axis: str):
        super().__init__(name, sink, address, source)
        self.axis = axis
        self._wanted = _axis_wants(axis)

    def wanted(self) -> dict[str, Want]:
        return self._wanted

    def state_now(self, situation: Situation) -> DeviceState:
        return DeviceState("", axis_status(self.axis, situation))


def _axis_wants(axis: str) -> dict[str, Want]:
    settings = {s.name: s for s in AXIS_SETTINGS}
    spec = AxisSpec(axis, f"BeaconAxis {axis}")
    wants = {}
    for attribute, setting_name, view in AXIS_ATTRIBUTES:
        setting = settings[setting_name]
        kind = "spectrum:bool" if view is View.LIMIT_SWITCHES else setting.kind
        channel_spec = axis_channel_spec(axis, spec, setting_name, setting.kind, "")
        channel_spec = dataclasses.replace(channel_spec, kind=parse_kind(kind))
        if setting.shown_from_hash:
            channel_spec = dataclasses.replace(
                channel_spec, setting=SettingSource(f"axis.{axis}", setting_name)
            )
        axis_state = f"axis.{axis}.state" if view is View.POSITION else None
        want = Want(f"axis.{axis}.{setting_name}", channel_spec, view, axis_state, attribute)
        wants[want.key] = want
    return wants

