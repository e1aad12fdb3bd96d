"""A Tango client process driven by JSON lines, to run as another OS user.

Tango's access control is enforced by the client library, with the name of the process's
effective user (cppTango's ``AccessProxy``: ``getpwuid(geteuid())``): checking what a user may
do takes a process of that user. This one opens one ``DeviceProxy`` (``--device``), then
answers commands read on stdin, one JSON object per line with an ``id``, with one JSON line
each: ``{"id": ..., "value": ...}`` or ``{"id": ..., "error": {"reason": ..., "desc": ...}}``
(the first error of a DevFailed). The events of a subscription are printed as they arrive,
``{"event": {"type": "change", "attr": ..., "value": ..., "error": ...}}``.

It runs with PyTango 10 or 9 (``tests/test_tango9_client.py`` runs it in a PyTango 9.5 venv).

Commands: ``whoami``; ``version`` (PyTango's and cppTango's); ``state``; ``read`` (``attr``);
``reading`` (``attr``: value, quality and time); ``write`` (``attr``, ``value``);
``property`` (``name``: the device's); ``label`` (``attr``: its configuration's); ``relabel``
(``attr``, ``label``: set in its configuration); ``touch`` (``attr``: its configuration
written back unchanged); ``command`` (``name``, ``arg``); ``subscribe`` (``attr``, ``type``:
``change`` or ``archive``); ``probe`` (``attr``: subscribes to its configuration events) and
``probed`` (``wait``: whether one came within, then unsubscribed), for
:meth:`~support.access_control.TangoClient.until_events_flow`.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import queue
import sys
import threading
from typing import Any

import tango

parser = argparse.ArgumentParser()
parser.add_argument("--device", required=True)
options = parser.parse_args()

OUT_LOCK = threading.Lock()


def emit(message: dict[str, Any]) -> None:
    with OUT_LOCK:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def plain(value: Any) -> Any:
    """A value read from Tango, as JSON (numpy scalars and arrays, DevState)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tango.DevState):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def error(exc: tango.DevFailed) -> dict[str, str]:
    return {"reason": exc.args[0].reason, "desc": exc.args[0].desc}


EVENT_TYPES = {"change": tango.EventType.CHANGE_EVENT, "archive": tango.EventType.ARCHIVE_EVENT}
ATTR_CONF = tango.EventType.ATTR_CONF_EVENT


def on_event(event: tango.EventData) -> None:
    kind = event.event
    if event.err:
        reason = event.errors[0].reason
        emit({"event": {"type": kind, "attr": event.attr_name, "value": None, "error": reason}})
    else:
        read = event.attr_value
        emit(
            {
                "event": {
                    "type": kind,
                    "attr": event.attr_name,
                    "value": plain(read.value),
                    "error": None,
                    "quality": str(read.quality),
                    "time": read.time.totime(),
                }
            }
        )


proxy = tango.DeviceProxy(options.device)
subscriptions: list[int] = []
probes: queue.Queue[bool] = queue.Queue()  # configuration events of the probe: whether OK
probe_ids: list[int] = []


def on_probe(event: Any) -> None:
    probes.put(not event.err)


def run(cmd: str, args: dict[str, Any]) -> Any:
    if cmd == "whoami":
        return pwd.getpwuid(os.geteuid()).pw_name
    if cmd == "version":
        return {"pytango": tango.__version__, "cpptango": tango.constants.TgLibVers}
    if cmd == "state":
        return str(proxy.state())
    if cmd == "read":
        return plain(proxy.read_attribute(args["attr"]).value)
    if cmd == "reading":
        read = proxy.read_attribute(args["attr"])
        time = read.time.totime()
        return {"value": plain(read.value), "quality": str(read.quality), "time": time}
    if cmd == "write":
        proxy.write_attribute(args["attr"], args["value"])
        return None
    if cmd == "property":
        return list(proxy.get_property(args["name"])[args["name"]])
    if cmd == "label":
        return proxy.get_attribute_config(args["attr"]).label
    if cmd == "touch":  # its configuration written back unchanged: a configuration event
        proxy.set_attribute_config(proxy.get_attribute_config(args["attr"]))
        return None
    if cmd == "relabel":
        config = proxy.get_attribute_config(args["attr"])
        config.label = args["label"]
        proxy.set_attribute_config(config)
        return None
    if cmd == "command":
        return plain(proxy.command_inout(args["name"], args.get("arg")))
    if cmd == "subscribe":
        ident = proxy.subscribe_event(args["attr"], EVENT_TYPES[args["type"]], on_event)
        subscriptions.append(ident)
        return ident
    if cmd == "probe":
        while not probes.empty():  # late ones of an earlier probe
            probes.get_nowait()
        probe_ids.append(proxy.subscribe_event(args["attr"], ATTR_CONF, on_probe))
        return probes.get(timeout=10)  # the configuration read at subscription
    if cmd == "probed":
        try:
            while not probes.get(timeout=args["wait"]):
                pass
        except queue.Empty:
            return False
        proxy.unsubscribe_event(probe_ids.pop())
        return True
    raise ValueError(f"unknown command {cmd!r}")


emit({"ready": True})
for line in sys.stdin:
    request = json.loads(line)
    ident, cmd = request.pop("id"), request.pop("cmd")
    try:
        emit({"id": ident, "value": run(cmd, request)})
    except tango.DevFailed as exc:
        emit({"id": ident, "error": error(exc)})
for ident in subscriptions:
    proxy.unsubscribe_event(ident)
