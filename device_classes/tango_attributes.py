"""The device's dynamic attributes on the Tango side: made, pushed, read, retired.

:class:`TangoAttributes` is the publisher's :class:`~tango_channels_device.bridge.publisher.Sink`
(what it needs of Tango) and what the device's reads use. It lives as long as the device
object: attributes are never removed while the server runs (removing one a client is reading
crashes PyTango 10.3 servers), so what it knows of them survives Init: the Tango type of each
(a channel that comes back with another type is refused, not given a second attribute), the
record each shows now, and why a retired one shows nothing any more.

Threads: the publisher thread makes attributes (under the device monitor), pushes events
(PyTango takes the monitor for each push) and retires attributes; omniORB threads read
(:meth:`TangoAttributes.read`, under the monitor). The maps are written by the publisher under
the monitor, or by Init, which holds it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import tango
from tango import AttrQuality, DevState

from .bridge.attribute import AttributeRecord, EventKind
from .bridge.criteria import Criteria
from .bridge.publisher import Busy, Counters, DeviceState
from .bridge.sample import Sample
from .errors import dev_failed, raise_failed
from .event_socket import make_event_socket
from .tango_types import TangoType, tango_text, tango_type

__all__ = ["COUNTER_ATTRIBUTES", "TangoAttributes"]

log = logging.getLogger("BeaconChannels")

#: The counter attributes and the field of Counters (or the device's) each shows.
COUNTER_ATTRIBUTES = {
    "ValuesReceived": "values_received",
    "EventsPushed": "events_pushed",
    "ValuesCoalesced": "values_coalesced",
    "UndecodableMessages": "undecodable_messages",
}
_QUALITIES = {name: AttrQuality.names[name] for name in AttrQuality.names}


class TangoAttributes:
    """See the module docstring. ``device`` is the BeaconChannels device."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.types: dict[str, TangoType] = {}  # attribute (lower case) -> its Tango type
        # attribute (lower case) -> (attribute, record key, kind): what it was made for
        self.made: dict[str, tuple[str, str, str]] = {}
        self.retired: dict[str, str] = {}  # attribute (lower case) -> why it shows nothing
        self.records: dict[str, AttributeRecord] = {}  # attribute (lower case) -> its record
        self._attributes: dict[str, Any] = {}  # attribute (lower case) -> tango.Attribute
        self._origin = f"BeaconChannels {device.get_name()}"
        self._state: DevState | None = None

    def known(self) -> dict[str, tuple[str, str]]:
        """Record key -> (attribute, kind): the attributes that exist, for the catalogue."""
        return {key: (attribute, kind) for attribute, key, kind in self.made.values()}

    # ------------------------------------------------------------------ Sink
    def create(self, records: list[AttributeRecord]) -> dict[AttributeRecord, str]:
        make_event_socket(self.device.get_name())  # before the first attribute added running
        refused: dict[AttributeRecord, str] = {}
        try:
            with tango.AutoTangoMonitor(self.device):
                for record in records:
                    why = self._expose(record)
                    if why:
                        refused[record] = why
        except tango.DevFailed as exc:  # the monitor stayed busy past its timeout
            raise Busy(exc.args[0].desc) from None
        return refused

    def listened(self, record: AttributeRecord, kind: EventKind) -> bool:
        attr = self._attribute(record)
        if kind is EventKind.CHANGE:
            return bool(attr.change_event_subscribed())
        if kind is EventKind.ARCHIVE:
            return bool(attr.archive_event_subscribed())
        return bool(attr.alarm_event_subscribed())

    def criteria(self, record: AttributeRecord) -> Criteria | None:
        try:
            return Criteria.parse(self._attribute(record).get_properties())
        except tango.DevFailed as exc:
            log.debug("criteria of %s: %s", record.name, exc.args[0].desc)
            return None

    def push(self, record: AttributeRecord, kind: EventKind, sample: Sample) -> bool:
        assert record.name is not None
        ttype = self.types[record.name.lower()]
        if sample.error and not sample.absent:
            event: tuple[Any, ...] = (dev_failed(sample.reason, sample.error, self._origin),)
        elif sample.value is None:
            event = (ttype.placeholder(), sample.timestamp, AttrQuality.ATTR_INVALID)
        else:
            quality = _QUALITIES[sample.quality.value]
            event = (ttype.to_tango(sample.value), sample.timestamp, quality)
        return self._push(kind, record.name, event)

    def retire(self, record: AttributeRecord, why: str) -> None:
        if record.name is not None:
            self.retire_names([record.name.lower()], why)

    def show_state(self, state: DeviceState) -> None:
        device = self.device
        new = DevState.names[state.state]
        device.set_state(new)
        device.set_status(state.status)
        was_alarm, self._state = self._state == DevState.ALARM, new
        self._push(EventKind.CHANGE, "State", (new,))
        self._push(EventKind.CHANGE, "Status", (state.status,))
        if was_alarm != (new == DevState.ALARM):  # an alarm handler follows the device
            self._push(EventKind.ALARM, "State", (new,))

    def show_counters(self, counters: Counters) -> None:
        for name, field_name in COUNTER_ATTRIBUTES.items():
            self._push(EventKind.CHANGE, name, (getattr(counters, field_name),))

    def show_names(self, names: list[str]) -> None:
        self._push(EventKind.CHANGE, "ChannelNames", ([tango_text(n) for n in names],))

    def status_lines(self) -> list[str]:
        if not self.retired:
            return []
        return [
            f"{len(self.retired)} attributes retired (their channels went away; a restart "
            "drops them)."
        ]

    # ------------------------------------------------------------------ reads
    def read(self, name: str) -> tuple[Any, float, Any]:
        """What a client reads of attribute ``name``: the sample its record shows (no I/O,
        no lock: one reference), or the error that says why there is none."""
        key = name.lower()
        why = self.retired.get(key)
        if why is not None:
            raise_failed("BeaconChannels_Retired", why, self._origin)
        record = self.records.get(key)
        sample = record.shown if record is not None else None
        ttype = self.types[key]
        if sample is None:  # made a moment ago, its first sample not shown yet
            return ttype.placeholder(), time.time(), AttrQuality.ATTR_INVALID
        if sample.error:
            raise_failed(sample.reason, sample.error, self._origin)
        if sample.value is None:
            return ttype.placeholder(), sample.timestamp, AttrQuality.ATTR_INVALID
        return ttype.to_tango(sample.value), sample.timestamp, _QUALITIES[sample.quality.value]

    def retire_names(self, keys: list[str], why: str) -> None:
        """Attributes (lower-case names) that show nothing any more, and why: reads and an
        error event say so until the server restarts (a restart drops them)."""
        for key in keys:
            attribute, channel, _ = self.made[key]
            reason = self.retired.get(key) or (  # retired before: it still says why
                f"attribute {attribute} no longer shows channel {channel}: {why}; "
                "it goes away when the server restarts"
            )
            self.retired[key] = reason
            self.records.pop(key, None)
            failed = dev_failed("BeaconChannels_Retired", reason, self._origin)
            for kind in EventKind:
                self._push(kind, attribute, (failed,))

    # ------------------------------------------------------------------ internals
    def _push(self, kind: EventKind, name: str, event: tuple[Any, ...]) -> bool:
        push = {
            EventKind.CHANGE: self.device.push_change_event,
            EventKind.ARCHIVE: self.device.push_archive_event,
            EventKind.ALARM: self.device.push_alarm_event,
        }[kind]
        try:
            push(name, *event)
        except tango.DevFailed as exc:  # e.g. the monitor busy past its timeout
            log.warning("pushing a %s event of %s: %s", kind.value, name, exc.args[0].desc)
            return False
        return True

    def _attribute(self, record: AttributeRecord) -> Any:
        assert record.name is not None
        key = record.name.lower()
        attr = self._attributes.get(key)
        if attr is None:
            attr = self._attributes[key] = self.device.get_device_attr().get_attr_by_name(key)
        return attr

    def _expose(self, record: AttributeRecord) -> str:
        """Make (or give back, after Init) the attribute of ``record``; why not, if not."""
        assert record.kind is not None and record.name is not None
        key = record.name.lower()
        wanted = tango_type(record.kind)
        existing = self.types.get(key)
        if existing is not None and existing.signature != wanted.signature:
            return (
                f"channel {record.channel} is now {record.kind}, but attribute {record.name} "
                "has another type: restart the server to change it"
            )
        if existing is None:
            try:
                self._create_attribute(record, wanted)
            except tango.DevFailed as exc:
                return (
                    f"cannot create attribute {record.name} for channel {record.channel}: "
                    f"{exc.args[0].desc}"
                )
        self.types[key] = wanted
        self.made[key] = (record.name, record.key, str(record.kind))
        self.retired.pop(key, None)
        self.records[key] = record
        return ""

    def _create_attribute(self, record: AttributeRecord, ttype: TangoType) -> None:
        assert record.name is not None and record.kind is not None
        spec = record.spec
        attr = ttype.make_attr(record.name, record.writable)
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
        device.add_attribute(
            attr,
            r_meth=device.read_channel,
            w_meth=device.write_channel if record.writable else None,
        )
        # Every event is pushed by code: alarm events are declared so too, or an ALARM_EVENT
        # subscriber breaks the attribute's change events (cppTango 10.3.3: push_change_event
        # then fails and change subscribers get stale or garbage values). On the device, once
        # the attribute exists: PyTango 10.3.1 drops Attr.set_alarm_event given before.
        device.set_alarm_event(record.name, True, False)
