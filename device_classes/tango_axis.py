"""A BeaconAxis device's attributes on the Tango side: pushed, read, its limits applied.

:class:`AxisAttributes` is a motor device's :class:`~tango_channels_device.bridge.devices.Sink`.
Its attributes are static (every motor device has the same ones, so the class declares them:
cppTango keeps an attribute's definition per class), so nothing is made at run time. What it
pushes:

- each attribute's change, archive and alarm events, from its record's samples, as
  :class:`~tango_channels_device.tango_attributes.TangoAttributes` does;
- ``State``, from the axis state's samples: the device's state is set, then its events pushed
  (cppTango stamps a State event with the time of the push: a DevState attribute's events
  can't carry the source time);
- the axis's low and high limits (``low_limit``, ``high_limit``: records, not attributes) as
  ``Position``'s ``min_value`` and ``max_value``, through the server's
  :class:`~tango_channels_device.server.LimitsWriter` (it writes the Tango database, and
  cppTango pushes the attribute configuration event): a client writing outside them is
  refused by Tango itself, and BLISS's ``tango_attr_as_motor`` reads its limits there;
- ``SetPosition`` as ``Position``'s write value (BLISS's target; the position until a target
  is known), under the device monitor.

Threads: the publisher thread pushes and sets; omniORB threads read (:meth:`read`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import tango
from tango import DevState

from .bridge.attribute import EVENT_BITS, AttributeRecord, EventKind
from .bridge.criteria import Criteria
from .bridge.devices import LIMITS, AxisBridge, Counters
from .bridge.sample import Sample
from .bridge.status import DeviceState
from .errors import dev_failed
from .server import LimitsWriter
from .tango_attributes import event_value, push_event, read_value

__all__ = ["AxisAttributes"]

log = logging.getLogger("BeaconChannels")

_ALL = sum(EVENT_BITS.values())
NOT_SPECIFIED = "Not specified"


class AxisAttributes:
    """See the module docstring. ``device`` is the BeaconAxis device."""

    def __init__(self, device: Any, limits: LimitsWriter) -> None:
        self.device = device
        self.bridge: AxisBridge | None = None
        self._writer = limits
        self._attributes: dict[str, Any] = {}
        self._limits: dict[str, float | None] = {}  # low_limit, high_limit: as BLISS has them
        self._applied: tuple[str, str] | None = None  # (min_value, max_value) last handed
        self._target_known = False  # SetPosition had a value: Position's write value is it
        self.closed = False  # the server ends: the limits writer leaves the device alone
        self._origin = f"BeaconAxis {device.get_name()}"

    # ------------------------------------------------------------------ Sink
    def create(self, records: list[AttributeRecord]) -> dict[AttributeRecord, str]:
        return {}  # static attributes: they exist

    def listening(self, record: AttributeRecord) -> int:
        # Every sample comes to push(): the limits, the state and the set point act on the
        # device whoever listens; push() pushes events only where a client subscribed.
        return _ALL

    def _subscribed(self, name: str) -> int:
        attr = self._attribute(name)
        return (
            (EVENT_BITS[EventKind.CHANGE] if attr.change_event_subscribed() else 0)
            | (EVENT_BITS[EventKind.ARCHIVE] if attr.archive_event_subscribed() else 0)
            | (EVENT_BITS[EventKind.ALARM] if attr.alarm_event_subscribed() else 0)
        )

    def criteria(self, record: AttributeRecord) -> Criteria | None:
        if record.name in LIMITS or record.name == "State":
            return Criteria()
        try:
            return Criteria.parse(self._attribute(record.name or "").get_properties())
        except tango.DevFailed as exc:
            log.debug("criteria of %s: %s", record.name, exc.args[0].desc)
            return None

    def push(self, record: AttributeRecord, kind: EventKind, sample: Sample) -> bool:
        name = record.name or ""
        if name in LIMITS:
            if kind is EventKind.CHANGE:
                self._limit(name, sample)
            return False  # not an event: Position's configuration
        if name == "State":
            return self._push_state(kind, sample)
        if kind is EventKind.CHANGE and name in ("SetPosition", "Position"):
            self._follow_set_point(name, _number(sample))
        if not self._subscribed(name) & EVENT_BITS[kind]:
            return False
        return push_event(self.device, kind, name, event_value(record, sample, self._origin))

    def retire(self, record: AttributeRecord) -> None:  # a motor's attributes never retire
        assert record.shown is not None
        failed = dev_failed(record.shown.reason, record.shown.error or "", self._origin)
        for kind in EventKind:
            push_event(self.device, kind, record.name or "", (failed,))

    def show_state(self, state: DeviceState) -> None:
        self.device.set_status(state.status)  # State is the axis state's own (push)
        push_event(self.device, EventKind.CHANGE, "Status", (state.status,))

    def show_counters(self, counters: Counters) -> None:
        pass  # a motor device has no counter attributes

    def show_names(self, names: list[str]) -> None:
        pass

    # ------------------------------------------------------------------ reads
    def read(self, name: str) -> tuple[Any, float, Any]:
        bridge = self.bridge
        return read_value(bridge.by_name.get(name.lower()) if bridge else None, self._origin)

    # ------------------------------------------------------------------ internals
    def _attribute(self, name: str) -> Any:
        attr = self._attributes.get(name)
        if attr is None:
            attr = self._attributes[name] = self.device.get_device_attr().get_attr_by_name(name)
        return attr

    def _push_state(self, kind: EventKind, sample: Sample) -> bool:
        device = self.device
        if sample.error is not None and not sample.absent:
            state = DevState.FAULT
        elif sample.value is None:
            state = DevState.UNKNOWN
        else:
            state = DevState.names[sample.value]
        if kind is EventKind.CHANGE:
            device.set_state(state)
        if not self._subscribed("State") & EVENT_BITS[kind]:
            return False
        return push_event(device, kind, "State", (state,))

    def _follow_set_point(self, name: str, value: float | None) -> None:
        """Position's write value is BLISS's target (a client's set point: BLISS's
        ``tango_attr_as_motor`` bases relative moves on it); the position itself until a
        target is known (a never-written attribute's 0.0 would be a false target)."""
        if value is None or (name == "Position" and self._target_known):
            return
        self._target_known = self._target_known or name == "SetPosition"
        try:
            with tango.AutoTangoMonitor(self.device):
                self._attribute("Position").set_write_value(value)
        except tango.DevFailed as exc:
            log.debug("Position's write value: %s", exc.args[0].desc)

    def _limit(self, name: str, sample: Sample) -> None:
        self._limits[name] = _number(sample)
        low, high = self._limits.get("low_limit"), self._limits.get("high_limit")
        wanted = (_limit_text(low), _limit_text(high))
        if low is not None and high is not None and low >= high:
            wanted = (NOT_SPECIFIED, NOT_SPECIFIED)  # BLISS allows it; Tango doesn't
        if wanted == self._applied:
            return
        self._applied = wanted
        self._writer.submit(lambda: self._apply_limits(*wanted))

    def _apply_limits(self, low: str, high: str) -> None:
        """In the limits writer's thread: Position's min_value and max_value."""
        if self.closed:
            return
        attr = self._attribute("Position")
        config = attr.get_properties()
        if (_same(config.min_value, low), _same(config.max_value, high)) == (True, True):
            return  # as the database has it already (a restart): nothing to write
        config.min_value, config.max_value = low, high
        attr.set_properties(config)
        name = self.device.get_name()
        log.info("%s: Position's limits are now %s, %s", name, low, high, extra={"device": name})


def _number(sample: Sample) -> float | None:
    value = sample.value if sample.error is None else None
    return float(value) if isinstance(value, int | float) else None


def _same(text: str, limit: str) -> bool:
    """Whether a limit as Tango shows it (``"-5"``) is ``limit`` (``"-5.0"``)."""
    try:
        return float(text) == float(limit)
    except ValueError:
        return text == limit


def _limit_text(limit: float | None) -> str:
    return NOT_SPECIFIED if limit is None or not math.isfinite(limit) else repr(limit)
