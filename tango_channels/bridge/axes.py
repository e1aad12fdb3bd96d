"""BLISS axes as their channels show them: ``AxisState`` values, read and made.

A BLISS axis publishes its state on ``axis.<name>.state`` as a
``bliss.common.axis.state.AxisState``, which we keep as an
:class:`~tango_channels.wire.opaque.Opaque` (its class is BLISS's, never imported here). Its
pickled state is ``{"_current_states": [names], "_state_desc": {name: description}}``; one
value may hold several states (``READY`` and ``LIMPOS``).
"""

from __future__ import annotations

from typing import Any

from ..wire.opaque import Opaque, opaque_class

__all__ = ["STANDARD_STATES", "axis_state", "axis_state_names", "is_axis_state"]

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
