"""BLISS axis names, and the BeaconAxis devices named after them.

A ``BeaconAxis`` device serves one BLISS axis: the one its ``Axis`` property names, or, without
it, the one the last member of its device name names. The convention is
``<beamline>/bliss/<axis>`` (:func:`device_name`): ``id00/bliss/roby`` serves ``roby``.

What can be an axis name is what BLISS takes as an object name in its YAML configuration
(``bliss/config/static.py``, BLISS 2.4: a string not starting with a digit; ``$`` starts a
reference to another object), and what the channels of an axis can carry: BLISS publishes
``axis.<name>.<setting>`` and caches ``<name>:initialized``, so a name holds no ``.`` and no
``:``; a glob character would make the name a pattern to Redis (``PUBSUB CHANNELS``, ``SCAN``);
a ``/`` or a space can't stand in a Tango device name, nor in an ``Axes`` line unquoted.
Tango-free: the device, the deployment checks and ``discover`` share it.
"""

from __future__ import annotations

__all__ = ["DEVICE_FAMILY", "axis_name_error", "default_axis", "device_name"]

DEVICE_FAMILY = "bliss"
_FORBIDDEN = {
    ".": "channels are axis.<name>.<setting>",
    ":": "BLISS caches are <name>:<key>",
    "/": "it separates the members of a Tango device name",
    "*": "a glob character",
    "?": "a glob character",
    "[": "a glob character",
    "]": "a glob character",
}


def axis_name_error(name: str) -> str | None:
    """Why ``name`` can't be a BLISS axis's name, or None if it can."""
    if not name:
        return "it is empty"
    if name[0].isdigit():
        return "it starts with a digit (BLISS: names start with a letter or _)"
    if name.startswith("$"):
        return "'$' starts a reference to another object in BLISS's configuration"
    for char in name:
        if char.isspace():
            return "it has a space"
        if not char.isprintable():
            return f"it has the control character {char!r}"
        if char in _FORBIDDEN:
            return f"it has a {char!r} ({_FORBIDDEN[char]})"
    return None


def default_axis(device: str) -> str:
    """The axis a ``BeaconAxis`` device without an ``Axis`` property serves: the last member of
    its name (``id00/bliss/roby`` -> ``roby``)."""
    return device.rpartition("/")[2]


def device_name(beamline: str, axis: str) -> str:
    """The conventional name of the ``BeaconAxis`` device of ``axis``:
    ``<beamline>/bliss/<axis>``."""
    return f"{beamline}/{DEVICE_FAMILY}/{axis}"
