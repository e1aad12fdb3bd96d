"""The audit trail: who changed what BLISS sees, through this device.

Every command or write that changes something BLISS sees (``ClearCache``, ``StopAxes``, a
write, ``AddChannel``, ``RemoveChannel``, ``Init``) is logged once, at INFO, on the
``BeaconChannels.audit`` logger: Python's logging (stderr, the journal) and the device's Tango
logging targets (a file target, a LogViewer) receive it. A line says what was asked, by whom
(the client as cppTango knows it: its host and process id, and its main class for a Java
client), and what it did, or why it was refused::

    ClearCache(['musst_1']) from host 10.1.2.3 pid 4242: 3 channels reset to their defaults (...)

cppTango gives a device no user name (a client sends it only to the access control service),
so the user of a line is found from the host and process, in the facility's own records. A
command refused by Tango's access control never reaches the device, and is not here.
"""

from __future__ import annotations

import logging
from typing import Any

import tango

__all__ = ["client_of", "listed", "log", "shown"]

log = logging.getLogger("BeaconChannels.audit")


def client_of(device: Any) -> str:
    """The client running the current command or write, as cppTango identifies it."""
    try:
        ident = device.get_client_ident()
    except (tango.DevFailed, AttributeError):
        ident = None
    if ident is None:
        return "the server itself"
    try:
        host = ident.get_client_hostname() or ident.client_ip
    except (tango.DevFailed, AttributeError, ValueError):  # ValueError: a unix socket
        host = ident.client_ip
    who = f"host {_host(host)} pid {ident.client_pid}"
    if ident.java_main_class:
        who += f" ({ident.java_main_class})"
    return who


def listed(items: list[str], at_most: int = 5) -> str:
    """A few names, and how many more."""
    shown_items = ", ".join(items[:at_most])
    return shown_items + (f", ... ({len(items) - at_most} more)" if len(items) > at_most else "")


def shown(value: Any) -> str:
    """A value written, short enough for a log line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _host(address: str) -> str:
    """``giop:tcp:10.1.2.3:43210`` (omniORB's form of a client address) -> ``10.1.2.3``; a
    client on this host through omniORB's unix socket -> ``localhost``."""
    if address.startswith("giop:tcp:"):
        address = address[len("giop:tcp:") :].rsplit(":", 1)[0]
    elif address.startswith("giop:unix:"):
        address = "localhost"
    return address.strip("[]")
