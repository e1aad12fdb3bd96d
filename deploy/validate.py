"""Checking each device of a deployment file as the device itself would.

dsconfig writes whatever the file says: a ``Channels`` line the device can't parse, a
``RedisURL`` that the device never reads (its property is ``RedisUrl``), a URL it can't use.
The device would then start in FAULT, or silently without the setting, on the day it is
started. :func:`problems` finds all of that before anything is written, one line per problem
naming the device, the property and, for line-valued properties, the line.

The server's two device classes (``BeaconChannels`` and ``BeaconAxis``) are checked alike,
each against its own class (:data:`CLASS_CHECKS`). What is checked, and where it comes from:

- property names: the ``device_property`` attributes of the device class itself (found by
  introspection, so a property added to the class is known here at once), Tango's own device
  properties (:data:`TANGO_DEVICE_PROPERTIES`) and ``_``-prefixed names (Tango's internal ones,
  which dsconfig never removes either). A name that is none of these is an error suggesting the
  closest known one (``RedisURL`` -> ``RedisUrl``, ``Channel`` -> ``Channels``);
- every value converts to the property's type with PyTango's own conversion (what the device
  does at ``init_device``), and a scalar property has one value;
- the properties of each class's value checks (:data:`VALUE_CHECKS`, :data:`AXIS_VALUE_CHECKS`)
  with the device's own parsers: each ``Channels`` line with
  :func:`tango_channels_device.bridge.lines.parse_lines`, ``RedisUrl`` with
  :meth:`RedisAddress.from_url`, ``BeaconHost`` as ``host:port``, ``Axis`` as a BLISS axis
  name (:mod:`tango_channels_device.bridge.axis_names`);
- the axis of each ``BeaconAxis`` device (its ``Axis``, or the last member of its name): a
  BLISS axis name, served by one device of the file only;
- attribute property names: those dsconfig writes (it refuses any other at write time);
- each class's properties (the ``classes`` section): ``AllowedAccessCmd`` (see
  ``device_classes/access.py``) and the class's own ``class_property`` attributes; each command that
  ``AllowedAccessCmd`` lets read-only clients run is one the class has (found by introspection,
  as properties are, or Tango's own :data:`TANGO_COMMANDS`, or named by the class's access
  rules), and none of those the rules never allow (BeaconChannels's
  :data:`~tango_channels_device.access.NEVER_ALLOWED`, which change what BLISS sees).
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from dsconfig.tangodb import SPECIAL_ATTRIBUTE_PROPERTIES
from tango.server import class_property, device_property
from tango.utils import is_array, seqStr_2_obj

from tango_channels.transport.address import RedisAddress, parse_host_port
from tango_channels_deploy.config import AXIS_CLASS, SERVER, Device, class_entry, devices
from tango_channels_device.access import BY_CLASS, CLASS_PROPERTY, AccessRules, never_allowed
from tango_channels_device.beacon_axis import BeaconAxis
from tango_channels_device.beacon_channels import BeaconChannels
from tango_channels_device.bridge.axis_names import axis_name_error, default_axis
from tango_channels_device.bridge.lines import parse_axis_lines, parse_lines
from tango_channels_device.bridged import CLASS_DEFAULTS

__all__ = [
    "AXIS_VALUE_CHECKS",
    "CLASS_CHECKS",
    "TANGO_COMMANDS",
    "TANGO_DEVICE_PROPERTIES",
    "VALUE_CHECKS",
    "Check",
    "ClassChecks",
    "class_commands",
    "class_properties",
    "problems",
]

Check = Callable[[list[str]], Iterable[str]]
"""A property's values -> what is wrong with them, one message each (``"line 2: ..."``)."""

# The device properties every Tango device reads besides its class's: cppTango's
# DeviceImpl::get_dev_system_resource (polling, black box, description) and its logging.
TANGO_DEVICE_PROPERTIES = frozenset(
    {
        "blackbox_depth",
        "description",
        "poll_ring_depth",
        "polled_cmd",
        "polled_attr",
        "non_auto_polled_cmd",
        "non_auto_polled_attr",
        "poll_old_factor",
        "cmd_poll_ring_depth",
        "attr_poll_ring_depth",
        "min_poll_period",
        "cmd_min_poll_period",
        "attr_min_poll_period",
        "logging_level",
        "logging_target",
        "logging_rft",
        "logging_path",
    }
)


# The commands every Tango device has besides its class's (cppTango's DeviceClass adds them).
TANGO_COMMANDS = ("Init", "State", "Status")


def _lines(parse: Callable[[list[str]], tuple[Any, list[str]]]) -> Check:
    """A check from a line parser of the device's kind: ``(specs, ["line 3: ...", ...])``."""
    return lambda values: parse(values)[1]


def _each(check_one: Callable[[str], object]) -> Check:
    """A check from a function that raises ValueError for a value it refuses; empty values
    mean "not set" to the device and are not checked."""

    def check(values: list[str]) -> Iterable[str]:
        for value in values:
            if not value:
                continue
            try:
                check_one(value)
            except ValueError as exc:
                yield str(exc)

    return check


def _redis_url(value: str) -> None:
    try:
        RedisAddress.from_url(value)
    except ValueError as exc:  # a bad port or db number says only "invalid literal..."
        raise ValueError(f"{value!r} is not a Redis URL: {exc}") from None


def _axis_name(value: str) -> None:
    why = axis_name_error(value)
    if why is not None:
        raise ValueError(f"{value!r} is not a BLISS axis name: {why}")


# Property name -> its check, with the parser the device itself uses (a new line-valued
# property is checked by adding its parser here).
VALUE_CHECKS: dict[str, Check] = {
    "Channels": _lines(parse_lines),
    "Axes": _lines(parse_axis_lines),
    "RedisUrl": _each(_redis_url),
    "BeaconHost": _each(parse_host_port),
}
AXIS_VALUE_CHECKS: dict[str, Check] = {
    "Axis": _each(_axis_name),
    "RedisUrl": _each(_redis_url),
    "BeaconHost": _each(parse_host_port),
}


@cache
def class_properties(
    device_class: type = BeaconChannels, kind: type = device_property
) -> dict[str, Any]:
    """The ``device_property`` (or ``kind``) attributes of ``device_class`` and its bases, by
    name."""
    return {
        name: value
        for klass in reversed(device_class.__mro__)
        for name, value in vars(klass).items()
        if isinstance(value, kind)
    }


@cache
def class_commands(device_class: type = BeaconChannels) -> tuple[str, ...]:
    """The names of the commands of ``device_class`` (PyTango's ``@command``s, which it marks
    with ``__tango_command__``), and Tango's own :data:`TANGO_COMMANDS`."""
    declared = (
        value.__tango_command__[0]
        for klass in reversed(device_class.__mro__)
        for value in vars(klass).values()
        if hasattr(value, "__tango_command__")
    )
    return (*dict.fromkeys(declared), *TANGO_COMMANDS)


@dataclass(frozen=True)
class ClassChecks:
    """What a device of one class of the server is checked against: its Tango class (for its
    properties and commands), the checks of its property values, and its access rules."""

    name: str
    tango_class: type
    value_checks: dict[str, Check]
    access: AccessRules

    def properties(self, kind: type = device_property) -> dict[str, Any]:
        return class_properties(self.tango_class, kind)

    def commands(self) -> tuple[str, ...]:
        """The class's commands, and those its access rules name (BeaconAxis's commands may
        be named before the class declares them)."""
        return (*class_commands(self.tango_class), *sorted(self.access.classified))


CLASS_CHECKS = {
    SERVER: ClassChecks(SERVER, BeaconChannels, VALUE_CHECKS, BY_CLASS[SERVER]),
    AXIS_CLASS: ClassChecks(AXIS_CLASS, BeaconAxis, AXIS_VALUE_CHECKS, BY_CLASS[AXIS_CLASS]),
}
"""Each device class of the server, by name."""


def _unknown(name: str, known: Iterable[str], what: str) -> str:
    """``name`` is not one of ``known``: say so, with the closest known name if any."""
    by_lower = {k.lower(): k for k in known}
    key = name.lower()
    if key not in by_lower:
        key = next(iter(difflib.get_close_matches(key, by_lower, n=1, cutoff=0.6)), "")
    hint = f"; did you mean {by_lower[key]}?" if key else ""
    return f"{name} is not {what}{hint}"


def _property_problems(checks: ClassChecks, name: str, values: list[str]) -> Iterable[str]:
    if not values:  # dsconfig: delete the property
        return
    if name.startswith("_") or name in TANGO_DEVICE_PROPERTIES:
        return
    declared = checks.properties()
    if name not in declared:
        known = [*declared, *TANGO_DEVICE_PROPERTIES]
        yield _unknown(name, known, f"a {checks.name} property")
        return
    typed = list(_type_problems(name, values, declared[name].dtype))
    yield from typed
    if not typed and name in checks.value_checks:
        yield from (f"{name}: {problem}" for problem in checks.value_checks[name](values))


def _type_problems(name: str, values: list[str], dtype: Any) -> Iterable[str]:
    """Whether ``values`` convert to ``dtype`` as PyTango converts a property's values."""
    if not is_array(dtype) and len(values) > 1:
        yield f"{name}: takes one value, the file gives {len(values)}"
        return
    try:
        seqStr_2_obj(values, dtype)
    except ValueError as exc:
        yield f"{name}: {values!r} is not of type {dtype}: {exc}"


def _attribute_problems(attribute: str, properties: dict[str, list[str]]) -> Iterable[str]:
    for name in properties:
        if not name.startswith("_") and name not in SPECIAL_ATTRIBUTE_PROPERTIES:
            known = [p for p in SPECIAL_ATTRIBUTE_PROPERTIES if not p.startswith("_")]
            yield f"attribute {attribute}: " + _unknown(name, known, "an attribute property")


def _allowed_access_problems(checks: ClassChecks, values: list[str]) -> Iterable[str]:
    """``AllowedAccessCmd``: commands of the class, none that changes anything."""
    commands = checks.commands()
    for value in values:
        why = never_allowed(value, checks.name)
        if why is not None:
            yield f"{CLASS_PROPERTY}: {why}"
        elif value not in commands:
            yield f"{CLASS_PROPERTY}: " + _unknown(value, commands, f"a {checks.name} command")


def _class_property_problems(checks: ClassChecks, name: str, values: list[str]) -> Iterable[str]:
    if not values or name.startswith("_"):  # dsconfig: delete it; Tango's internal ones
        return
    if name == CLASS_PROPERTY:
        yield from _allowed_access_problems(checks, values)
        return
    if name in CLASS_DEFAULTS:  # the devices' default (device_classes/bridged.py)
        devices = checks.properties(device_property)
        typed = list(_type_problems(name, values, devices[name].dtype))
        yield from typed
        if not typed and name in VALUE_CHECKS:
            yield from (f"{name}: {problem}" for problem in VALUE_CHECKS[name](values))
        return
    declared = checks.properties(class_property)
    if name not in declared:
        known = [CLASS_PROPERTY, *CLASS_DEFAULTS, *declared]
        yield _unknown(name, known, f"a {checks.name} class property")
        return
    yield from _type_problems(name, values, declared[name].dtype)


def _axis_of(device: str, properties: dict[str, list[str]]) -> tuple[str, str]:
    """The axis a BeaconAxis device serves (``""``: none) and how it is given, or why none.

    Its ``Axis``, or else the last member of its name. An ``Axis`` of the wrong type or that is
    no axis name is reported by the property checks: the device serves nothing here."""
    given = properties.get("Axis") or [""]
    if len(given) == 1 and not given[0]:
        axis = default_axis(device)
        why = axis_name_error(axis)
        if why is None:
            return axis, f"axis {axis!r} (the last member of its name)"
        return "", (
            f"no Axis property, and the last member of its name, {axis!r}, is not a BLISS "
            f"axis name: {why}; give the axis in the Axis property"
        )
    if len(given) > 1 or axis_name_error(given[0]) is not None:
        return "", ""
    return given[0], f"axis {given[0]!r}"


def _redis_of(device: Device, defaults: dict[str, list[str]]) -> tuple[str, str]:
    """Where a BeaconAxis device finds Redis, as far as the file says: its ``RedisUrl``, else
    its ``BeaconHost`` (the class's properties are the defaults of its own), else the
    environment of its server instance. Two devices serve one axis only if they agree here:
    ``roby`` of one beamline's Beacon is not ``roby`` of another's."""
    for name in ("RedisUrl", "BeaconHost"):
        values = device.entry.get("properties", {}).get(name) or defaults.get(name) or [""]
        if len(values) == 1 and values[0]:
            if name == "RedisUrl":
                with contextlib.suppress(ValueError):  # a bad URL is reported elsewhere
                    return name, RedisAddress.from_url(values[0]).url
            return name, values[0].lower()
    return "the environment of instance", device.instance


def problems(document: dict[str, Any]) -> list[str]:
    """What is wrong with the devices and the classes of a checked deployment document, one
    line each, in the file's order."""
    found = []
    axis_defaults = class_entry(document, AXIS_CLASS).get("properties", {})
    served: dict[tuple[str, str, str], str] = {}  # (axis, Redis) -> the device serving it
    for device in devices(document):
        checks = CLASS_CHECKS[device.device_class]
        name = device.name
        properties = device.entry.get("properties", {})
        for key, values in properties.items():
            found += [f"{name}: {p}" for p in _property_problems(checks, key, values)]
        for attribute, attr_properties in device.entry.get("attribute_properties", {}).items():
            found += [f"{name}: {p}" for p in _attribute_problems(attribute, attr_properties)]
        if device.device_class == AXIS_CLASS:
            axis, said = _axis_of(name, properties)
            if not axis:
                found += [f"{name}: {said}"] if said else []
                continue
            key = (axis, *_redis_of(device, axis_defaults))
            if key in served:
                found.append(f"{name}: {said} is served by {served[key]} already")
            else:
                served[key] = name
    for device_class, checks in CLASS_CHECKS.items():
        where = f"class {device_class}"
        entry = class_entry(document, device_class)
        for key, values in entry.get("properties", {}).items():
            found += [f"{where}: {p}" for p in _class_property_problems(checks, key, values)]
        for attribute, properties in entry.get("attribute_properties", {}).items():
            found += [f"{where}: {p}" for p in _attribute_problems(attribute, properties)]
    return found
