"""A BeaconChannels device's dynamic attributes on the Tango side: made, pushed, read, retired.

:class:`TangoAttributes` is the device's :class:`~tango_channels_device.bridge.devices.Sink`
(what the publisher needs of Tango) and what the device's reads use. It keeps no table of its
own: the device's attribute table is its
:class:`~tango_channels_device.bridge.devices.ChannelsBridge`'s (one record per attribute,
surviving Init), and a read is one look-up there and one reference (the record's ``shown``
sample: its value, or the error that says why there is none, a retired attribute's included).
Attributes are never removed while the server runs (removing one a client is reading crashes
PyTango 10.3 servers): a record keeps its attribute's name and type until a restart.

Threads: the publisher thread makes attributes (under the device monitor), pushes events
(PyTango takes the monitor for each push) and retires attributes; omniORB threads read
(:meth:`TangoAttributes.read`, under the monitor).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import tango
from tango import AttrQuality, DevState

from .bridge.attribute import EVENT_BITS, AttributeRecord, EventKind
from .bridge.criteria import Criteria
from .bridge.devices import Busy, ChannelsBridge, Counters
from .bridge.sample import Sample
from .bridge.status import DeviceState
from .errors import dev_failed, raise_failed
from .event_socket import make_event_socket
from .tango_types import tango_text, tango_type

__all__ = ["COUNTER_ATTRIBUTES", "QUALITIES", "TangoAttributes", "event_value", "push_event"]

log = logging.getLogger("BeaconChannels")

#: The counter attributes and the field of Counters each shows.
COUNTER_ATTRIBUTES = {
    "ValuesReceived": "values_received",
    "EventsPushed": "events_pushed",
    "ValuesCoalesced": "values_coalesced",
    "UndecodableMessages": "undecodable_messages",
}
QUALITIES = {name: AttrQuality.names[name] for name in AttrQuality.names}
_PUSHES = {
    EventKind.CHANGE: "push_change_event",
    EventKind.ARCHIVE: "push_archive_event",
    EventKind.ALARM: "push_alarm_event",
}


def push_event(device: Any, kind: EventKind, name: str, event: tuple[Any, ...]) -> bool:
    """Push one event of ``device``'s attribute ``name``; False (and a warning) if Tango
    refused it."""
    try:
        getattr(device, _PUSHES[kind])(name, *event)
    except tango.DevFailed as exc:  # e.g. the monitor busy past its timeout
        log.warning(
            "pushing a %s event of %s: %s",
            kind.value,
            name,
            exc.args[0].desc,
            extra={"device": device.get_name()},
        )
        return False
    return True


def event_value(record: AttributeRecord, sample: Sample, origin: str) -> tuple[Any, ...]:
    """What ``push_*_event`` takes for ``sample`` of ``record``'s attribute: an error, or a
    value (a placeholder for no value), its time and quality."""
    assert record.kind is not None
    ttype = tango_type(record.kind)
    if sample.error and not sample.absent:
        return (dev_failed(sample.reason, sample.error, origin),)
    if sample.value is None:
        return (ttype.placeholder(), sample.timestamp, AttrQuality.ATTR_INVALID)
    return (ttype.to_tango(sample.value), sample.timestamp, QUALITIES[sample.quality.value])


def read_value(record: AttributeRecord | None, origin: str) -> tuple[Any, float, Any]:
    """What a client reads of ``record``'s attribute: the sample it shows (no I/O, no lock:
    one reference), or the error that says why there is none."""
    sample = record.shown if record is not None else None
    if record is None or record.kind is None:
        raise_failed("BeaconChannels_NoChannel", "this attribute shows no channel", origin)
    ttype = tango_type(record.kind)
    if sample is None:  # made a moment ago, its first sample not shown yet
        return ttype.placeholder(), time.time(), AttrQuality.ATTR_INVALID
    if sample.error:
        raise_failed(sample.reason, sample.error, origin)
    if sample.value is None:
        return ttype.placeholder(), sample.timestamp, AttrQuality.ATTR_INVALID
    return ttype.to_tango(sample.value), sample.timestamp, QUALITIES[sample.quality.value]


class TangoAttributes:
    """See the module docstring. ``device`` is the BeaconChannels device."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.bridge: ChannelsBridge | None = None  # set by the device once it knows its Redis
        self._attributes: dict[str, Any] = {}  # attribute (lower case) -> tango.Attribute
        self._origin = f"BeaconChannels {device.get_name()}"
        self._state: DevState | None = None

    # ------------------------------------------------------------------ Sink
    def create(self, records: list[AttributeRecord]) -> dict[AttributeRecord, str]:
        make_event_socket(self.device.get_name())  # before the first attribute added running
        refused: dict[AttributeRecord, str] = {}
        try:
            with tango.AutoTangoMonitor(self.device):
                for record in records:
                    why = self._create_attribute(record)
                    if why:
                        refused[record] = why
        except tango.DevFailed as exc:  # the monitor stayed busy past its timeout
            raise Busy(exc.args[0].desc) from None
        return refused

    def listening(self, record: AttributeRecord) -> int:
        attr = self._attribute(record)
        return (
            (EVENT_BITS[EventKind.CHANGE] if attr.change_event_subscribed() else 0)
            | (EVENT_BITS[EventKind.ARCHIVE] if attr.archive_event_subscribed() else 0)
            | (EVENT_BITS[EventKind.ALARM] if attr.alarm_event_subscribed() else 0)
        )

    def criteria(self, record: AttributeRecord) -> Criteria | None:
        try:
            return Criteria.parse(self._attribute(record).get_properties())
        except tango.DevFailed as exc:
            log.debug("criteria of %s: %s", record.name, exc.args[0].desc)
            return None

    def push(self, record: AttributeRecord, kind: EventKind, sample: Sample) -> bool:
        assert record.name is not None
        return push_event(self.device, kind, record.name, event_value(record, sample, self._origin))

    def retire(self, record: AttributeRecord) -> None:
        assert record.name is not None and record.shown is not None
        failed = dev_failed(record.shown.reason, record.shown.error or "", self._origin)
        for kind in EventKind:
            push_event(self.device, kind, record.name, (failed,))

    def show_state(self, state: DeviceState) -> None:
        device = self.device
        new = DevState.names[state.state]
        device.set_state(new)
        device.set_status(state.status)
        was_alarm, self._state = self._state == DevState.ALARM, new
        push_event(device, EventKind.CHANGE, "State", (new,))
        push_event(device, EventKind.ARCHIVE, "State", (new,))  # HDB++: archived as it changes
        push_event(device, EventKind.CHANGE, "Status", (state.status,))
        if was_alarm != (new == DevState.ALARM):  # an alarm handler follows the device
            push_event(device, EventKind.ALARM, "State", (new,))

    def show_counters(self, counters: Counters) -> None:
        for name, field_name in COUNTER_ATTRIBUTES.items():
            value = (getattr(counters, field_name),)
            push_event(self.device, EventKind.CHANGE, name, value)
            push_event(self.device, EventKind.ARCHIVE, name, value)

    def show_names(self, names: list[str]) -> None:
        push_event(
            self.device, EventKind.CHANGE, "ChannelNames", ([tango_text(n) for n in names],)
        )

    # ------------------------------------------------------------------ reads
    def read(self, name: str) -> tuple[Any, float, Any]:
        """What a client reads of attribute ``name`` (see :func:`read_value`)."""
        bridge = self.bridge
        record = bridge.by_name.get(name.lower()) if bridge is not None else None
        return read_value(record, self._origin)

    # ------------------------------------------------------------------ internals
    def _attribute(self, record: AttributeRecord) -> Any:
        assert record.name is not None
        key = record.name.lower()
        attr = self._attributes.get(key)
        if attr is None:
            attr = self._attributes[key] = self.device.get_device_attr().get_attr_by_name(key)
        return attr

    def _create_attribute(self, record: AttributeRecord) -> str:
        """Make the attribute of ``record``; why not, if not."""
        assert record.name is not None and record.kind is not None
        spec = record.spec
        attr = tango_type(record.kind).make_attr(record.name, record.writable)
        props = tango.UserDefaultAttrProp()
        props.set_label(spec.label or record.channel)
        description = f"BLISS channel {record.channel}"
        if spec.description:
            description = f"{spec.description} (BLISS channel {record.channel})"
        props.set_description(description)
        if spec.unit:
            props.set_unit(spec.unit)
        if spec.format:
            props.set_format(spec.format)
        if record.kind.name == "enum":
            props.set_enum_labels(list(record.kind.labels))
        for name, value in spec.properties:  # defaults: the database and clients win
            if name == "archive_period" or record.kind.numeric:  # Tango refuses the others
                getattr(props, f"set_{name}")(value)
            else:
                log.warning(
                    "%s= ignored for %s, a %s channel (it makes an event when it changes)",
                    name,
                    record.channel,
                    record.kind,
                )
        attr.set_default_properties(props)
        attr.set_change_event(True, False)
        attr.set_archive_event(True, False)
        device = self.device
        try:
            device.add_attribute(
                attr,
                r_meth=device.read_channel,
                w_meth=device.write_channel if record.writable else None,
            )
        except tango.DevFailed as exc:
            return (
                f"cannot create attribute {record.name} for channel {record.channel}: "
                f"{exc.args[0].desc}"
            )
        # Every event is pushed by code: alarm events are declared so too, or an ALARM_EVENT
        # subscriber breaks the attribute's change events (cppTango 10.3.3: push_change_event
        # then fails and change subscribers get stale or garbage values). On the device, once
        # the attribute exists: PyTango 10.3.1 drops Attr.set_alarm_event given before.
        device.set_alarm_event(record.name, True, False)
        return ""

