"""A channel peer process driven by JSON lines, for multi-process tests.

The same script runs with our library (``--impl tango_channels``, optionally ``--gevent``) or
with real BLISS 2.4 (``--impl bliss``, in the BLISS peer venv): both offer the same API, so one
test scenario exercises both. Commands arrive on stdin, one JSON object per line with an
``id``; each gets one JSON answer line. Callback calls are printed as ``{"event": ...}`` lines
as they happen.

Values cross as JSON, with tags for what JSON lacks: ``{"__tuple__": [...]}``,
``{"__set__": [...]}``, ``{"__bytes__": hex}``, ``{"__ndarray__": {"dtype", "data"}}``,
``{"__axisstate__": [state names]}`` and ``{"__shutter__": member name}``. Values are reported
by :func:`describe`.

The ``axis*`` commands make the process a BLISS axis as ``bliss/common/motor_settings.py`` and
``bliss/common/axis/axis.py`` make one (BLISS 2.4): one channel ``axis.<n>.<setting>`` per
setting, opened with ``self_updates=False`` and set as the axis changes, every setting but
``state`` persisted in the hash ``axis.<n>`` (``settings.HashSetting`` with BLISS, the same
bytes with redis-py otherwise), and ``axis.<n>.move_stop`` (default False) stopping a move when
another process sets it True.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback

parser = argparse.ArgumentParser()
parser.add_argument("--impl", choices=["tango_channels", "bliss"], default="tango_channels")
parser.add_argument("--gevent", action="store_true", help="patch_all(thread=False) first")
parser.add_argument("--redis", required=True, help="Redis URL")
options = parser.parse_args()

if options.gevent:
    from gevent import monkey

    monkey.patch_all(thread=False)

import numpy  # noqa: E402
import redis  # noqa: E402

if options.impl == "bliss":
    from bliss.common.axis.state import AxisState
    from bliss.config import settings
    from bliss.config.channels import Cache, Channel, EventChannel, clear_cache
else:
    from tango_channels import Cache, Channel, EventChannel, clear_cache
    from tango_channels_device.bridge.axes import axis_state as AxisState

GEVENT = options.gevent or options.impl == "bliss"
CLIENT = redis.Redis.from_url(options.redis)
OUT_LOCK = threading.Lock()
channels: dict[str, object] = {}
callbacks: dict[str, object] = {}  # strong references: BLISS keeps callbacks weakly
objects: dict[str, object] = {}


def emit(message: dict) -> None:
    line = json.dumps(message)
    with OUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def build(value):
    """JSON (with tags) -> Python value."""
    if isinstance(value, list):
        return [build(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(build(v) for v in value["__tuple__"])
    if "__set__" in value:
        return {build(v) for v in value["__set__"]}
    if "__bytes__" in value:
        return bytes.fromhex(value["__bytes__"])
    if "__ndarray__" in value:
        spec = value["__ndarray__"]
        return numpy.array(spec["data"], dtype=spec["dtype"])
    if "__axisstate__" in value:
        return AxisState(*value["__axisstate__"])
    if "__shutter__" in value:
        from bliss.common.base_shutter import BaseShutterState

        return getattr(BaseShutterState, value["__shutter__"])
    return {k: build(v) for k, v in value.items()}


def plain(value):
    """Python value -> JSON-able, for both implementations' objects."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, numpy.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape), "data": value.tolist()}
    if isinstance(value, numpy.generic):
        return value.item()
    kind = type(value).__name__
    if kind == "AxisState":  # BLISS's own class
        return {"states": list(value.current_states_names)}
    if hasattr(value, "class_path"):  # our Opaque
        if value.state and "_current_states" in value.state:
            return {"states": list(value.state["_current_states"])}
        return {"args": plain(list(value.args))}
    if hasattr(value, "value") and hasattr(type(value), "__members__"):  # an enum member
        return {"args": [plain(value.value)]}
    return repr(value)


def describe(value) -> dict:
    cls = type(value)
    path = getattr(value, "class_path", None) or f"{cls.__module__}.{cls.__qualname__}"
    return {"type": path, "value": plain(value), "repr": repr(value)[:200]}


# ------------------------------------------------------------------ a BLISS axis
# BLISS 2.4's ControllerAxisSettings, in its order.
AXIS_SETTINGS = [
    "sign",
    "offset",
    "backlash",
    "low_limit",
    "high_limit",
    "velocity",
    "velocity_high_limit",
    "velocity_low_limit",
    "jog_velocity",
    "acceleration",
    "dial_position",
    "_set_position",
    "position",
    "state",
    "steps_per_unit",
]


class Axis:
    """What a BLISS axis puts on Redis (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.channels = {
            s: Channel(f"axis.{name}.{s}", self_updates=False, redis=CLIENT) for s in AXIS_SETTINGS
        }
        self.stop_requested = False
        self.moving = False
        self.stops = 0
        self._hash = (
            settings.HashSetting(f"axis.{name}", connection=CLIENT)
            if options.impl == "bliss"
            else None
        )
        self.move_stop = Channel(
            f"axis.{name}.move_stop",
            default_value=False,
            callback=self._external_stop,
            self_updates=False,
            redis=CLIENT,
        )

    def _external_stop(self, stop) -> None:  # as Axis._external_stop
        if stop and self.moving:
            self.stop_requested = True

    def set(self, values: dict) -> None:
        """AxisSettings.set: persisted ("None" for None) but state, then each channel set."""
        persisted = {k: "None" if v is None else v for k, v in values.items() if k != "state"}
        if persisted:
            if self._hash is not None:
                self._hash.update(persisted)
            else:
                CLIENT.hset(f"axis.{self.name}", mapping={k: str(v) for k, v in persisted.items()})
        for setting, value in values.items():
            self.channels[setting].value = value

    def move(self, target: float, steps: int, period: float) -> None:
        start = self.channels["position"].value or 0.0
        self.moving, self.stop_requested = True, False
        self.set({"_set_position": target, "state": AxisState("MOVING")})
        for step in range(1, steps + 1):
            time.sleep(period)
            if self.stop_requested:
                self.stops += 1
                break
            position = start + (target - start) * step / steps
            self.set({"position": position, "dial_position": position})
        self.set({"state": AxisState("READY")})
        self.moving = False


axes: dict[str, Axis] = {}


def spawn(fn, *args) -> None:
    if GEVENT:
        import gevent

        gevent.spawn(fn, *args)
    else:
        threading.Thread(target=fn, args=args, daemon=True).start()


def stream(name: str, count: int, rate: float) -> None:
    """Set channel ``name`` to 0.0, 1.0... ``count`` values at ``rate`` a second, as a moving
    motor sends its positions, then say so (a ``streamed`` event)."""
    channel, start = channels[name], time.perf_counter()
    for i in range(count):
        channel.value = float(i)
        time.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
    emit({"event": "streamed", "name": name, "count": count})


def on_value_factory(name: str):
    def on_value(value) -> None:
        emit({"event": "callback", "name": name, **describe(value)})

    return on_value


def handle(cmd: dict) -> dict:
    op = cmd["cmd"]
    name = cmd.get("name")
    if op == "open":
        kwargs = {"redis": CLIENT}
        if "default" in cmd:
            kwargs["default_value"] = build(cmd["default"])
        if "value" in cmd:
            kwargs["value"] = build(cmd["value"])
        if "timeout" in cmd:
            kwargs["timeout"] = cmd["timeout"]
        if "self_updates" in cmd:
            kwargs["self_updates"] = cmd["self_updates"]
        channels[name] = (EventChannel if cmd.get("event") else Channel)(name, **kwargs)
        return {}
    if op == "get":
        started = time.monotonic()
        value = channels[name].value
        return {**describe(value), "seconds": time.monotonic() - started}
    if op == "set":
        channels[name].value = build(cmd["value"])
        return {}
    if op == "post":
        channels[name].post(build(cmd["value"]))
        return {}
    if op == "post_new":  # a new EventChannel, and events posted on it at once
        channels[name] = EventChannel(name, redis=CLIENT)
        for value in cmd["values"]:
            channels[name].post(build(value))
        return {}
    if op == "stream":  # in the background: a "streamed" event says when it is over
        spawn(stream, name, cmd["count"], cmd["rate"])
        return {}
    if op == "watch":
        callbacks[name] = on_value_factory(name)
        channels[name].register_callback(callbacks[name])
        return {}
    if op == "unwatch":
        channels[name].unregister_callback(callbacks.pop(name))
        return {}
    if op == "close":
        channels.pop(name).close()
        return {}
    if op == "cache":
        obj = objects.setdefault(cmd["obj"], type("Obj", (), {"name": cmd["obj"]})())
        kwargs = {"redis": CLIENT}
        if "default" in cmd:
            kwargs["default_value"] = build(cmd["default"])
        channels[f"{cmd['obj']}:{cmd['key']}"] = Cache(obj, cmd["key"], **kwargs)
        return {}
    if op == "clear_cache":
        clear_cache(*(objects[o] for o in cmd["objs"]))
        return {}
    if op == "axis":  # a BLISS axis comes up in this session, with these settings
        axis = axes[name] = Axis(name)
        axis.set(build(cmd.get("values", {})))
        return {}
    if op == "axis_set":
        axes[name].set(build(cmd["values"]))
        return {}
    if op == "axis_move":
        spawn(axes[name].move, cmd["to"], cmd.get("steps", 10), cmd.get("period", 0.05))
        return {}
    if op == "axis_status":
        axis = axes[name]
        return {"moving": axis.moving, "stops": axis.stops}
    if op == "sleep":  # let a gevent process run its greenlets (BLISS sends asynchronously)
        time.sleep(cmd["seconds"])
        return {}
    raise ValueError(f"unknown command {op!r}")


def lines():
    if GEVENT:
        from gevent.fileobject import FileObjectPosix

        stdin = FileObjectPosix(sys.stdin.fileno(), "rb")
        while line := stdin.readline():
            yield line.decode()
    else:
        yield from sys.stdin


emit({"ready": True, "impl": options.impl, "gevent": GEVENT})
for line in lines():
    if not line.strip():
        continue
    cmd = json.loads(line)
    if cmd["cmd"] == "exit":
        emit({"id": cmd["id"], "ok": True})
        break
    try:
        emit({"id": cmd["id"], "ok": True, **handle(cmd)})
    except Exception as exc:
        emit(
            {
                "id": cmd["id"],
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        )
    if GEVENT:
        time.sleep(0.001)  # BLISS publishes from a greenlet: give it a turn
