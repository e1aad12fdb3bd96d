"""BLISS axes as their channels and settings show them.

A BLISS axis ``<n>`` (``bliss/common/axis/axis.py``, ``bliss/common/motor_settings.py`` in
BLISS 2.4) publishes one channel ``axis.<n>.<setting>`` per setting (:data:`AXIS_SETTINGS`), and
persists every setting but ``state`` in the Redis hash ``axis.<n>`` (values written with
``str()``, ``None`` as ``"None"``: see :mod:`tango_channels_device.bridge.settings`). Its state is a
``bliss.common.axis.state.AxisState``, which we keep as an
:class:`~tango_channels.wire.opaque.Opaque` (its class is BLISS's, never imported here): its
pickled state is ``{"_current_states": [names], "_state_desc": {name: description}}``, and one
value may hold several states (``READY`` and ``LIMPOS``).

What BLISS does with what it receives on those channels decides what we may write: a state
containing MOVING marks the axis as moving in every session, and any other setting is only an
event there (the controller and ``axis.velocity`` keep reading the hash). So a value written on
an axis setting channel would lie: :func:`axis_setting_of` lets the device refuse such writes.
A move started by another process is stopped by setting ``axis.<n>.move_stop`` to True
(``Axis.stop``, ``Axis._external_stop``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tango_channels.wire.opaque import Opaque, opaque_class

from .sample import Quality

__all__ = [
    "AXIS_SETTINGS",
    "STANDARD_STATES",
    "AxisSetting",
    "axis_setting_of",
    "axis_state",
    "axis_state_names",
    "device_state",
    "is_axis_state",
    "move_stop_channel",
    "position_quality",
]

#: BLISS 2.4's standard axis states and their descriptions (``AxisState._STANDARD_STATES``).
STANDARD_STATES = {
    "READY": "Axis is READY",
    "MOVING": "Axis is MOVING",
    "FAULT": "Error from controller",
    "LIMPOS": "Hardware high limit active",
    "LIMNEG": "Hardware low limit active",
    "HOME": "Home signal active",
    "OFF": "Axis power is off",
    "DISABLED": "Axis cannot move",
    "UNKNOWN": "Axis state not handled",
}
_AxisState = opaque_class("bliss.common.axis.state", "AxisState")


@dataclass(frozen=True)
class AxisSetting:
    """One setting of a BLISS axis: its channel ``axis.<n>.<name>``, the ``type=`` it has
    (BLISS's ``convert_func``), whether we show its value from the hash when no session runs,
    and its unit as a function of the axis unit ``u``."""

    name: str
    kind: str
    shown_from_hash: bool
    unit: str = ""  # "{u}", "{u}/s", "{u}/s2" or a fixed unit


# The settings an axis exposes, in attribute order, and how BLISS types them: floats, but
# ``sign`` (an int) and ``state``; all persisted but ``state`` (BLISS persists
# ``_set_position``, but it is the last target, meaningless once no session runs).
_EXPOSED: tuple[str, ...] = ("position", "dial_position", "state", "velocity", "acceleration")
_EXPOSED += ("low_limit", "high_limit", "offset", "sign", "backlash", "steps_per_unit")
_EXPOSED += ("jog_velocity", "_set_position")
_KINDS = {"sign": "int", "state": "state"}
_NOT_SHOWN_FROM_HASH = ("state", "_set_position")
# Units as Taurus reads them (pint): "mm/s2" or "steps/mm" would show as no unit.
_UNITS = {
    "velocity": "{u}/s",
    "jog_velocity": "{u}/s",
    "acceleration": "{u}/s^2",
    "steps_per_unit": "1/{u}",
    "sign": "",
    "state": "",
}

#: The settings an axis exposes (see above); other units are the axis's (``{u}``).
AXIS_SETTINGS = tuple(
    AxisSetting(
        name, _KINDS.get(name, "float"), name not in _NOT_SHOWN_FROM_HASH, _UNITS.get(name, "{u}")
    )
    for name in _EXPOSED
)
# Settings BLISS has besides those we expose: writing them would lie just the same.
_OTHER_SETTINGS = ("velocity_low_limit", "velocity_high_limit")
_SETTING_CHANNEL = re.compile(
    r"axis\.(?P<axis>[^.]+)\.(?P<setting>"
    + "|".join(re.escape(s.name) for s in AXIS_SETTINGS)
    + "|"
    + "|".join(_OTHER_SETTINGS)
    + r")"
)


def axis_setting_of(channel: str) -> str | None:
    """The setting a channel name is of a BLISS axis (``axis.roby.velocity`` -> "velocity"),
    or None."""
    match = _SETTING_CHANNEL.fullmatch(channel)
    return match["setting"] if match else None


def move_stop_channel(axis: str) -> str:
    return f"axis.{axis}.move_stop"


# ------------------------------------------------------------------------ AxisState
def is_axis_state(value: Any) -> bool:
    return (
        isinstance(value, Opaque)
        and value.class_path.endswith(".AxisState")
        and isinstance(value.state, dict)
        and "_current_states" in value.state
    )


def axis_state_names(value: Opaque) -> list[str]:
    return [str(name) for name in value.state["_current_states"]]


def axis_state(*names: str) -> Opaque:
    """A value BLISS decodes as ``AxisState(*names)``, as a BLISS axis pickles it."""
    state = _AxisState()
    state.state = {"_current_states": list(names), "_state_desc": dict(STANDARD_STATES)}
    return state


#: Axis states, by priority, and the Tango device state each shows as; none of them: UNKNOWN.
_DEVICE_STATES = (
    ("FAULT", "FAULT"),
    ("DISABLED", "DISABLE"),
    ("OFF", "OFF"),
    ("MOVING", "MOVING"),
    ("LIMPOS", "ALARM"),
    ("LIMNEG", "ALARM"),
    ("READY", "ON"),
)


def device_state(names: list[str]) -> str:
    """The Tango state name of an axis in the states ``names``: READY -> ON, MOVING, LIMPOS or
    LIMNEG -> ALARM, FAULT, OFF, DISABLED -> DISABLE, other -> UNKNOWN. Several states: the
    first of FAULT, DISABLED, OFF, MOVING, a limit, READY (``READY LIMPOS`` is ALARM)."""
    for axis_state_name, tango_state in _DEVICE_STATES:
        if axis_state_name in names:
            return tango_state
    return "UNKNOWN"


def position_quality(names: list[str] | None) -> Quality:
    """The quality of an axis position, as Tango motors give it: CHANGING while MOVING, ALARM
    on a limit switch or FAULT, VALID otherwise (no state known included)."""
    if not names:
        return Quality.VALID
    if "MOVING" in names:
        return Quality.CHANGING
    if "FAULT" in names or "LIMPOS" in names or "LIMNEG" in names:
        return Quality.ALARM
    return Quality.VALID
