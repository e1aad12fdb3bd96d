"""A real BLISS 2.4 process driven by JSON lines: BLISS objects from a real Beacon's config.

Run by the python of the full BLISS venv (``support.bliss_beacon.bliss_full_venv()``) with
``BEACON_HOST`` set, and driven by ``support.bliss_beacon.BlissSession``. The protocol is
``peer.py``'s: a ``{"ready": ...}`` line first; then one JSON command per stdin line, each with
an ``id``, each answered by one line ``{"id", "ok", ...}`` (``"error"`` and ``"traceback"``
when not ok); ``{"event": ...}`` lines whenever a watched object sends a signal.

Objects come from ``bliss.config.static.get_config()``, as a BLISS session gets them (no
``Session.setup()``: that imports measurement groups, scan saving and the writer, most of
BLISS's dependencies, none of which an axis needs). Importing ``bliss`` patches the process
with gevent (``bliss_patch_all``), as in every BLISS process: stdin is read by a thread of
gevent's pool (:func:`lines`), and each command runs in its own greenlet, so that a long one
(``wait_move``) never stops the others (``stop``) nor the greenlets that publish channels and
deliver Tango events.

Commands (``name`` is an object name in Beacon's config):

- ``axis {name}``: get the axis and initialise it (reading its position does: BLISS initialises
  an axis lazily, and only then does ``tango_attr_as_motor`` connect to its device and read the
  limits; ``axis.limits`` alone reads the settings in Redis); answers :func:`describe`.
- ``read {name}``: :func:`describe` again (for a ``tango_attr_as_motor`` axis, with
  ``tango_events``: whether it has subscribed to its device's events yet).
- ``move {name, target, wait=false}``: ``axis.move(target, wait=wait)``; an error it raises is
  an error answer (without ``wait``, one of the motion itself comes with ``wait_move``).
- ``try_move {name, target}``: ``axis.move(target)``, the error it raises reported as
  ``refused`` and ``error`` (``"<type>: <text>"``) and ``errors`` (a DevFailed's ``desc``\\ s),
  with :func:`describe` after it.
- ``wait_move {name, timeout=30}``, ``stop {name, wait=true, timeout=30}``: then
  :func:`describe`.
- ``watch {name, signals=["position", "state"]}``: ``bliss.common.event.connect`` to each
  signal; every one received is an event line ``{"event": signal, "name", "value", "time"}``
  (``time.time()`` in this process when BLISS delivered it; a state as its list of names).
- ``reload``: ``config.reload()``, to see files added to Beacon's config after the first
  ``get_config()``.
- ``exit``: answered, then ``os._exit(0)``: an interpreter that has run PyTango with gevent
  can hang in its exit (``terminate called without an active exception``, SIGTERM ignored),
  and nothing is left to flush.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback

import bliss  # noqa: F401  (patches the process with gevent, as every BLISS process is)
import gevent
from bliss.common import event
from bliss.config.static import get_config

objects: dict[str, object] = {}
callbacks: list[object] = []  # strong references: BLISS's dispatcher holds callbacks weakly


def emit(message: dict) -> None:
    # One write per line, from whichever greenlet: a write to a pipe does not yield to another
    # greenlet, so lines never interleave.
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def plain(value):
    """A value BLISS gives -> JSON: AxisState as its list of state names, numpy as Python."""
    if hasattr(value, "current_states_names"):  # bliss.common.axis.state.AxisState
        return list(value.current_states_names)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return value  # json writes Infinity / NaN, which Python's json reads back
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)


def describe(axis) -> dict:
    """What a user of the axis sees (each read as BLISS does it: settings, or the hardware)."""
    return {
        "class": f"{type(axis).__module__}.{type(axis).__qualname__}",
        "position": plain(axis.position),
        "dial_position": plain(axis.dial),
        "set_position": plain(axis._set_position),
        "state": plain(axis.state),
        "limits": plain(axis.limits),
        "velocity": plain(axis.velocity),
        "acceleration": plain(axis.acceleration),
        "is_moving": axis.is_moving,
        # tango_attr_as_motor: whether its TangoCallbacks have subscribed to the device's
        # events (a greenlet does it after the axis initialises; events pushed before are lost)
        **(
            {"tango_events": bool(axis._callbacks is not None and axis._callbacks._connected)}
            if hasattr(axis, "_callbacks")
            else {}
        ),
    }


def error_text(exc: BaseException) -> dict:
    descs = [getattr(e, "desc", None) for e in getattr(exc, "args", ())]
    return {
        "error": f"{type(exc).__name__}: {exc}",
        "error_type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "errors": [d for d in descs if isinstance(d, str)],
    }


def watcher(name: str, signal: str):
    def on_signal(value, *args, **kwargs) -> None:
        emit({"event": signal, "name": name, "value": plain(value), "time": time.time()})

    return on_signal


def handle(cmd: dict) -> dict:
    op = cmd["cmd"]
    config = get_config()
    if op == "reload":
        config.reload()
        return {}
    name = cmd["name"]
    if op == "axis":
        objects[name] = config.get(name)
        return describe(objects[name])
    axis = objects[name]
    if op == "read":
        return describe(axis)
    if op == "move":
        axis.move(cmd["target"], wait=cmd.get("wait", False))
        return {"started": True}
    if op == "try_move":
        try:
            axis.move(cmd["target"])
        except Exception as exc:
            return {"refused": True, **error_text(exc), **describe(axis)}
        return {"refused": False, **describe(axis)}
    if op == "wait_move":
        with gevent.Timeout(cmd.get("timeout", 30)):
            axis.wait_move()
        return describe(axis)
    if op == "stop":
        with gevent.Timeout(cmd.get("timeout", 30)):
            axis.stop(wait=cmd.get("wait", True))
        return describe(axis)
    if op == "watch":
        for signal in cmd.get("signals", ["position", "state"]):
            callback = watcher(name, signal)
            callbacks.append(callback)
            event.connect(axis, signal, callback)
        return {}
    raise ValueError(f"unknown command {op!r}")


def run(cmd: dict) -> None:
    try:
        answer = {"id": cmd["id"], "ok": True, **handle(cmd)}
    except BaseException as exc:  # gevent.Timeout is a BaseException: report it too
        answer = {
            "id": cmd["id"],
            "ok": False,
            **error_text(exc),
            "traceback": traceback.format_exc(),
        }
    emit(answer)


def lines():
    """stdin's lines, each read by a thread of gevent's pool while the hub runs on.

    Not ``gevent.fileobject.FileObjectPosix``: that needs the pipe non-blocking, and creating
    a motor imports h5py (through blissdata), whose import runs ``uname -p``
    (``platform.uname()``) through gevent's subprocess, whose child clears ``O_NONBLOCK`` on
    the stdin pipe it shares with us. From then on, a read waiting for the next command would
    block the hub, and with it every greenlet: commands just spawned, channels, Tango events.
    """
    pool = gevent.get_hub().threadpool
    stdin = sys.stdin.buffer

    def read_line() -> bytes:
        os.set_blocking(stdin.fileno(), True)  # in this thread, waiting is what we want
        return stdin.readline()

    while line := pool.apply(read_line):
        yield line


def main() -> None:
    emit({"ready": True, "pid": os.getpid(), "beacon": os.environ.get("BEACON_HOST")})
    for line in lines():
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd["cmd"] == "exit":
            emit({"id": cmd["id"], "ok": True})
            os._exit(0)
        gevent.spawn(run, cmd)
    os._exit(0)  # stdin closed: the test is gone


if __name__ == "__main__":
    main()
