"""Which BeaconChannels commands a read-only client may run under Tango's access control.

Tango's access control (TAC: the ``TangoAccessControl`` server that the database's free
property ``CtrlSystem/Services`` names as ``AccessControl/tango:<device>``) gives each user,
from each host, read-only or write access to each device. Tango's client library enforces it,
in the client, before a call leaves: a read-only client reads attributes and subscribes to
their events, but a write, or a command its device class doesn't declare in the class property
``AllowedAccessCmd``, fails with ``API_ReadOnlyMode``. TAC always adds State and Status.

The same class property names the commands that other clients may still run while one client
holds a lock on a device (``DeviceProxy.lock``); the server reads it when it starts.

This module is the one place that says which of the device's commands change nothing. It
imports neither ``tango`` nor the device class: the deployment tool (which writes the
property, with this default) and the tests take the list from here. The device does not
declare the property itself: PyTango would print "AllowedAccessCmd property NOT found in
database" at every start of a server whose database lacks it, and Tango reads it from the
database anyway.
"""

from __future__ import annotations

__all__ = [
    "CLASS_PROPERTY",
    "DEFAULT_ALLOWED",
    "FACILITY_CHOICE",
    "NEVER_ALLOWED",
    "never_allowed",
]

CLASS_PROPERTY = "AllowedAccessCmd"

DEFAULT_ALLOWED: tuple[str, ...] = ("AttributeName", "ChannelName")
"""The commands that only read: a channel's attribute name, and an attribute's channel.
State and Status need not be listed: TAC adds them."""

FACILITY_CHOICE: dict[str, str] = {
    "StopAxes": "it stops BLISS axes that are moving: the safe direction of a motor, but a scan "
    "stops with them",
}
"""Commands left out of the default, that a facility may allow read-only clients to run (in
the deployment file's ``classes`` section), with what they do."""

NEVER_ALLOWED: dict[str, str] = {
    "ClearCache": "it resets BLISS caches (<obj>:* channels) in every BLISS process",
    "AddChannel": "it opens channels on BLISS's Redis and asks the BLISS processes holding "
    "them for their values",
    "RemoveChannel": "it removes attributes that other clients read and subscribe to",
    "Init": "it restarts the device: it stops following BLISS's channels, then asks the BLISS "
    "processes for them all again",
}
"""Commands that change what BLISS sees (or what the device's other clients see), each with
the reason: never allowed to read-only clients, whatever a deployment file says."""


def never_allowed(command: str) -> str | None:
    """Why ``command`` must not be run by a read-only client, or None. Case-insensitive, as
    Tango's client library compares the names of ``AllowedAccessCmd``."""
    by_lower = {name.lower(): (name, why) for name, why in NEVER_ALLOWED.items()}
    found = by_lower.get(command.lower())
    if found is None:
        return None
    name, why = found
    return f"{name} is never allowed to read-only clients: {why}"
