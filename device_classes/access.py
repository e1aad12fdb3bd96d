"""Which commands of the BeaconChannels and BeaconAxis classes a read-only client may run
under Tango's access control.

Tango's access control (TAC: the ``TangoAccessControl`` server that the database's free
property ``CtrlSystem/Services`` names as ``AccessControl/tango:<device>``) gives each user,
from each host, read-only or write access to each device. Tango's client library enforces it,
in the client, before a call leaves: a read-only client reads attributes and subscribes to
their events, but a write, or a command its device class doesn't declare in the class property
``AllowedAccessCmd``, fails with ``API_ReadOnlyMode``. TAC always adds State and Status.

The same class property names the commands that other clients may still run while one client
holds a lock on a device (``DeviceProxy.lock``); the server reads it when it starts.

This module is the one place that says which of each class's commands change nothing
(:data:`BY_CLASS`, one :class:`AccessRules` per class). It imports neither ``tango`` nor the
device classes: the deployment tool (which writes the
property, with this default) and the tests take the list from here. The device does not
declare the property itself: PyTango would print "AllowedAccessCmd property NOT found in
database" at every start of a server whose database lacks it, and Tango reads it from the
database anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AXIS_RULES",
    "BY_CLASS",
    "CHANNELS_RULES",
    "CLASS_PROPERTY",
    "DEFAULT_ALLOWED",
    "FACILITY_CHOICE",
    "NEVER_ALLOWED",
    "AccessRules",
    "never_allowed",
]

CLASS_PROPERTY = "AllowedAccessCmd"

DEFAULT_ALLOWED: tuple[str, ...] = ("AttributeName", "ChannelName")
"""BeaconChannels's commands that only read: a channel's attribute name, and an attribute's
channel. State and Status need not be listed: TAC adds them."""

FACILITY_CHOICE: dict[str, str] = {
    "StopAxes": "it stops BLISS axes that are moving: the safe direction of a motor, but a scan "
    "stops with them",
}
"""BeaconChannels's commands left out of the default, that a facility may allow read-only
clients to run (in the deployment file's ``classes`` section), with what they do."""

NEVER_ALLOWED: dict[str, str] = {
    "ClearCache": "it resets BLISS caches (<obj>:* channels) in every BLISS process",
    "AddChannel": "it opens channels on BLISS's Redis and asks the BLISS processes holding "
    "them for their values",
    "RemoveChannel": "it removes attributes that other clients read and subscribe to",
    "Init": "it restarts the device: it stops following BLISS's channels, then asks the BLISS "
    "processes for them all again",
}
"""BeaconChannels's commands that change what BLISS sees (or what the device's other clients
see), each with the reason: never allowed to read-only clients, whatever a deployment file
says."""


@dataclass(frozen=True)
class AccessRules:
    """One device class's commands, as read-only clients see them: ``default`` (what
    ``AllowedAccessCmd`` is when a deployment file doesn't say), ``facility_choice`` (left out
    of the default, a facility may allow them) and ``never`` (refused whatever the file says),
    the last two with the reason."""

    default: tuple[str, ...]
    facility_choice: dict[str, str]
    never: dict[str, str]

    @property
    def classified(self) -> frozenset[str]:
        """Every command these rules name."""
        return frozenset({*self.default, *self.facility_choice, *self.never})


CHANNELS_RULES = AccessRules(DEFAULT_ALLOWED, FACILITY_CHOICE, NEVER_ALLOWED)
"""BeaconChannels's (the three constants above)."""

AXIS_RULES = AccessRules(
    default=(),
    facility_choice={
        "Stop": "it stops the BLISS axis if it is moving (BLISS's move_stop): the safe "
        "direction of a motor, but a scan moving it stops with it",
        "Abort": "as Stop (BLISS's tango_attr_as_motor stops an axis with Abort)",
    },
    never={
        "Init": "it restarts the device: it stops following the axis's channels, then asks "
        "the BLISS processes for them again",
    },
)
"""BeaconAxis's: nothing by default (a read-only client reads and subscribes; State and Status
TAC allows anyway). Stop and Abort are the facility's choice, as StopAxes is for
BeaconChannels."""

BY_CLASS: dict[str, AccessRules] = {"BeaconChannels": CHANNELS_RULES, "BeaconAxis": AXIS_RULES}
"""Each device class of the BeaconChannels server, by its Tango class name."""


def never_allowed(command: str, device_class: str = "BeaconChannels") -> str | None:
    """Why ``command`` of ``device_class`` must not be run by a read-only client, or None.
    Case-insensitive, as Tango's client library compares the names of ``AllowedAccessCmd``."""
    never = BY_CLASS[device_class].never
    by_lower = {name.lower(): (name, why) for name, why in never.items()}
    found = by_lower.get(command.lower())
    if found is None:
        return None
    name, why = found
    return f"{name} is never allowed to read-only clients: {why}"
