"""Checking each BeaconChannels device of a deployment file as the device itself would.

dsconfig writes whatever the file says: a ``Channels`` line the device can't parse, a
``RedisURL`` that the device never reads (its property is ``RedisUrl``), a URL it can't use.
The device would then start in FAULT, or silently without the setting, on the day it is
started. :func:`problems` finds all of that before anything is written, one line per problem
naming the device, the property and, for line-valued properties, the line.

What is checked, and where it comes from:

- property names: the ``device_property`` attributes of the device class itself (found by
  introspection, so a property added to the class is known here at once), Tango's own device
  properties (:data:`TANGO_DEVICE_PROPERTIES`) and ``_``-prefixed names (Tango's internal ones,
  which dsconfig never removes either). A name that is none of these is an error suggesting the
  closest known one (``RedisURL`` -> ``RedisUrl``, ``Channel`` -> ``Channels``);
- every value converts to the property's type with PyTango's own conversion (what the device
  does at ``init_device``), and a scalar property has one value;
- the properties of :data:`VALUE_CHECKS` with the device's own parsers: each ``Channels`` line
  with :func:`tango_channels_device.bridge.lines.parse_lines`, ``RedisUrl`` with
  :meth:`RedisAddress.from_url`, ``BeaconHost`` as ``host:port``;
- attribute property names: those dsconfig writes (it refuses any other at write time);
- the class's properties (the ``classes`` section): ``AllowedAccessCmd`` (see
  ``device_classes/access.py``) and the class's own ``class_property`` attributes; each command that
  ``AllowedAccessCmd`` lets read-only clients run is one the class has (found by introspection,
  as properties are, or Tango's own :data:`TANGO_COMMANDS`), and none of
  :data:`~tango_channels_device.access.NEVER_ALLOWED`, which change what BLISS sees.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from dsconfig.tangodb import SPECIAL_ATTRIBUTE_PROPERTIES
from tango.server import class_property, device_property
from tango.utils import is_array, seqStr_2_obj

from tango_channels.transport.address import RedisAddress, parse_host_port
from tango_channels_deploy.config import SERVER, class_entry, devices
from tango_channels_device.access import CLASS_PROPERTY, never_allowed
from tango_channels_device.beacon_channels import BeaconChannels
from tango_channels_device.bridge.lines import parse_axis_lines, parse_lines

__all__ = [
    "TANGO_COMMANDS",
    "TANGO_DEVICE_PROPERTIES",
    "VALUE_CHECKS",
    "Check",
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


# Property name -> its check, with the parser the device itself uses (a new line-valued
# property is checked by adding its parser here).
VALUE_CHECKS: dict[str, Check] = {
    "Channels": _lines(parse_lines),
    "Axes": _lines(parse_axis_lines),
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


def _unknown(name: str, known: Iterable[str], what: str) -> str:
    """``name`` is not one of ``known``: say so, with the closest known name if any."""
    by_lower = {k.lower(): k for k in known}
    key = name.lower()
    if key not in by_lower:
        key = next(iter(difflib.get_close_matches(key, by_lower, n=1, cutoff=0.6)), "")
    hint = f"; did you mean {by_lower[key]}?" if key else ""
    return f"{name} is not {what}{hint}"


def _property_problems(name: str, values: list[str]) -> Iterable[str]:
    if not values:  # dsconfig: delete the property
        return
    if name.startswith("_") or name in TANGO_DEVICE_PROPERTIES:
        return
    declared = class_properties()
    if name not in declared:
        yield _unknown(name, [*declared, *TANGO_DEVICE_PROPERTIES], f"a {SERVER} property")
        return
    typed = list(_type_problems(name, values, declared[name].dtype))
    yield from typed
    if not typed and name in VALUE_CHECKS:
        yield from (f"{name}: {problem}" for problem in VALUE_CHECKS[name](values))


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


def _allowed_access_problems(values: list[str]) -> Iterable[str]:
    """``AllowedAccessCmd``: commands of the class, none that changes anything."""
    commands = class_commands()
    for value in values:
        why = never_allowed(value)
        if why is not None:
            yield f"{CLASS_PROPERTY}: {why}"
        elif value not in commands:
            yield f"{CLASS_PROPERTY}: " + _unknown(value, commands, f"a {SERVER} command")


def _class_property_problems(name: str, values: list[str]) -> Iterable[str]:
    if not values or name.startswith("_"):  # dsconfig: delete it; Tango's internal ones
        return
    if name == CLASS_PROPERTY:
        yield from _allowed_access_problems(values)
        return
    declared = class_properties(kind=class_property)
    if name not in declared:
        yield _unknown(name, [CLASS_PROPERTY, *declared], f"a {SERVER} class property")
        return
    yield from _type_problems(name, values, declared[name].dtype)


def problems(document: dict[str, Any]) -> list[str]:
    """What is wrong with the devices and the class of a checked deployment document, one
    line each."""
    found = []
    for device, entry in devices(document):
        for name, values in entry.get("properties", {}).items():
            found += [f"{device}: {p}" for p in _property_problems(name, values)]
        for attribute, properties in entry.get("attribute_properties", {}).items():
            found += [f"{device}: {p}" for p in _attribute_problems(attribute, properties)]
    where = f"class {SERVER}"
    for name, values in class_entry(document).get("properties", {}).items():
        found += [f"{where}: {p}" for p in _class_property_problems(name, values)]
    for attribute, properties in class_entry(document).get("attribute_properties", {}).items():
        found += [f"{where}: {p}" for p in _attribute_problems(attribute, properties)]
    return found
