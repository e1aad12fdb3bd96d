"""The server's event socket made at start: a workaround for a crash of cppTango 10.3.

What happens without it (PyTango 10.3 with its cppTango 10.3.3): when the server adds an
attribute once it runs (an untyped channel's first value, a glob's new match, ``AddChannel``),
cppTango pushes a device interface change event if it believes a client subscribed to those
in the last 600 s. During the first ten minutes after the machine boots, it does: evidently it
measures from a subscription time of zero on the clock that counts from boot. The push goes to
the event socket, which cppTango creates at the first event subscription of any client, so
with no subscription yet there is no socket, and the server dies (SIGSEGV in
``ZmqEventSupplier::push_event``). Beamline servers start at boot, with no client yet: that is
the common case, not a corner. Reproduced with a bare PyTango server under a time namespace
that makes the machine look 140 s old (``unshare --time --monotonic=...``), not when it is
older than 600 s; ``tests/test_reliability.py`` has the device's own case.

So, once the server runs, it subscribes itself, through its admin device, to the State change
events of one of its devices: the subscription makes the socket. It lapses after 600 s, as
any subscription that is not renewed; the socket stays. Remove this module when cppTango
creates its socket before pushing: the test named above, run with these calls removed, then
passes.
"""

from __future__ import annotations

import logging
import struct
import threading

import tango

log = logging.getLogger(__name__)

_lock = threading.Lock()
_made = False

IIOP_PROFILE = 0  # TAG_INTERNET_IOP: the profile that says where the server listens


def make_event_socket(device_name: str | None = None) -> None:
    """Make this server's event socket, once per process, if it runs (not while it starts:
    cppTango neither pushes interface changes then, nor answers its own admin device).
    ``device_name``: a device of this server; the first of its devices if None."""
    global _made
    util = tango.Util.instance()
    if _made or util.is_svr_starting():
        return
    with _lock:
        if _made:
            return
        admin = util.get_dserver_device()
        if device_name is None:
            devices = [
                *util.get_device_list_by_class("BeaconChannels"),
                *util.get_device_list_by_class("BeaconAxis"),
            ]
            if not devices:
                return
            device_name = devices[0].get_name()
        try:
            host, port = iiop_endpoint(util.get_dserver_ior(admin))
            proxy = tango.DeviceProxy(f"tango://{host}:{port}/{admin.get_name()}#dbase=no")
            proxy.set_timeout_millis(2000)
            proxy.command_inout(
                "ZmqEventSubscriptionChange", [device_name, "state", "subscribe", "change"]
            )
        except (tango.DevFailed, ValueError) as exc:
            text = exc.args[0].desc if isinstance(exc, tango.DevFailed) else str(exc)
            log.warning(
                "could not make the event socket (%s): until a client subscribes to an "
                "event, an attribute added in the first 10 minutes after boot may crash "
                "the server (cppTango 10.3)",
                text,
            )
        _made = True  # tried: not again for each new attribute


def iiop_endpoint(ior: str) -> tuple[str, int]:
    """The host and port of the first IIOP profile of a stringified CORBA IOR (CDR)."""
    if not ior.upper().startswith("IOR:"):
        raise ValueError(f"not an IOR: {ior[:20]!r}")
    data = bytes.fromhex(ior[4:])
    order = "<" if data[0] == 1 else ">"
    pos = 1

    def ulong(buf: bytes, at: int, fmt: str) -> tuple[int, int]:
        at += -at % 4  # CDR aligns a ulong on 4 bytes, from the encapsulation's start
        return struct.unpack_from(fmt + "I", buf, at)[0], at + 4

    type_id_length, pos = ulong(data, pos, order)
    pos += type_id_length
    profiles, pos = ulong(data, pos, order)
    for _ in range(profiles):
        tag, pos = ulong(data, pos, order)
        length, pos = ulong(data, pos, order)
        profile, pos = data[pos : pos + length], pos + length
        if tag != IIOP_PROFILE:
            continue
        inner = "<" if profile[0] == 1 else ">"
        host_length, at = ulong(profile, 3, inner)  # after byte order and IIOP version
        host = profile[at : at + host_length - 1].decode("ascii")
        at += host_length
        at += -at % 2
        (port,) = struct.unpack_from(inner + "H", profile, at)
        return host, int(port)
    raise ValueError("the IOR has no IIOP profile")
