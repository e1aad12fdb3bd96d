"""A simulated BLISS axis ``roby`` for the quick start: what a BLISS session publishes for it.

A BLISS session holding an axis publishes one channel per setting, ``axis.roby.<setting>``
(``bliss/common/motor_settings.py``): ``position``, ``dial_position``, ``state`` (a real
``bliss.common.axis.state.AxisState`` on the wire: READY, or MOVING during a move),
``velocity``, ``acceleration``, ``low_limit``, ``high_limit``, ``offset``, ``sign`` (an int),
``backlash``, ``steps_per_unit``, ``jog_velocity``, ``_set_position`` (where the last move
goes), ``velocity_low_limit`` and ``velocity_high_limit`` (None here, as in most YAML files).
It also persists every setting but ``state`` in the Redis hash ``axis.roby``, as
``settings.HashSetting`` does: each value written with ``str()``, None as the string "None",
so that the device (issue 8) and BLISS's own tools can show them when no session runs.
It listens to ``axis.roby.move_stop``, as BLISS does: True stops a move.

Two channels are the demo's own: ``roby_demo:target``, a request the demo motor honours (it
moves roby there, within its limits; BLISS itself moves with ``mv``, and the device refuses
writes on axis settings), and ``musst_1:last__md5``, a cached controller parameter as a MUSST
card publishes it. The motor moves on its own, to and fro, until the first request.
"""

from __future__ import annotations

import collections
import itertools
import logging
import math
import sys
import threading
import time
from typing import Any

import redis

from tango_channels import Bus, Channel
from tango_channels_device.bridge.axes import axis_state

__all__ = ["AXIS", "MUSST", "SETTINGS", "TARGET", "AxisBusy", "run", "travelled"]

log = logging.getLogger("demo_motor")

AXIS = "roby"
TARGET = "roby_demo:target"
MUSST = "musst_1:last__md5"

#: The settings of a BLISS axis, in the order BLISS declares them, with the demo's values
#: (sign 1 and offset 0: user and dial positions are the same). Limits are dial values.
SETTINGS: dict[str, Any] = {
    "sign": 1,
    "offset": 0.0,
    "backlash": 0.05,
    "low_limit": -12.0,
    "high_limit": 12.0,
    "velocity": 2.0,
    "velocity_high_limit": None,
    "velocity_low_limit": None,
    "jog_velocity": 1.0,
    "acceleration": 10.0,
    "dial_position": 0.0,
    "_set_position": 0.0,
    "position": 0.0,
    "steps_per_unit": 2000.0,
}

#: Where the motor goes by itself, a pause of 2 s after each move, until the first request.
_TOUR = (6.0, -4.0, 9.0, -8.0, 2.5)
_PERIOD = 0.05  # seconds between two positions published during a move


class AxisBusy(RuntimeError):
    """Someone else already holds the axis's channels on that Redis."""


def travelled(t: float, distance: float, velocity: float, acceleration: float) -> float:
    """How far a trapezoidal move of ``distance`` (>= 0) has gone after ``t`` seconds: it
    accelerates, cruises at ``velocity``, decelerates (a triangle when too short to cruise)."""
    ramp = min(velocity / acceleration, math.sqrt(distance / acceleration))
    top = acceleration * ramp
    duration = 2 * ramp + (distance - acceleration * ramp * ramp) / top if top else 0.0
    if t >= duration:
        return distance
    if t < ramp:
        return acceleration * t * t / 2
    if t < duration - ramp:
        return acceleration * ramp * ramp / 2 + top * (t - ramp)
    return distance - acceleration * (duration - t) ** 2 / 2


class _Axis:
    """The axis's channels and its settings hash, set together as BLISS's ``AxisSettings.set``
    does: the hash first, then the channels."""

    def __init__(self, bus: Bus, client: redis.Redis) -> None:
        self._client = client
        self._hash = f"axis.{AXIS}"
        self.channels = {
            name: Channel(f"axis.{AXIS}.{name}", bus=bus, self_updates=False)
            for name in [*SETTINGS, "state"]
        }
        self.values = dict(SETTINGS)
        self.set(**SETTINGS, state=axis_state("READY"))

    def set(self, **values: Any) -> None:
        persisted = {k: "None" if v is None else str(v) for k, v in values.items() if k != "state"}
        if persisted:
            self._client.hset(self._hash, mapping=persisted)
        for name, value in values.items():
            self.values[name] = value
            self.channels[name].value = value

    def move_to(self, position: float) -> None:
        dial = (position - self.values["offset"]) / self.values["sign"]
        self.set(position=round(position, 4), dial_position=round(dial, 4))


def _check_free(bus: Bus, redis_url: str) -> None:
    held = bus.live_channels(f"axis.{AXIS}.*")
    if held:
        raise AxisBusy(
            f"another process already holds axis {AXIS} on {redis_url} ({len(held)} channels,"
            f" {held[0]}...): the demo needs a Redis of its own (leave out --redis)"
        )


def run(redis_url: str, stop: threading.Event, started: threading.Event | None = None) -> None:
    """Publish the axis until ``stop`` is set; ``started`` is set once every channel holds its
    first value. :class:`AxisBusy` if another process holds ``axis.roby.*`` there."""
    bus = Bus(redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        if not bus.wait_connected(10):
            raise ConnectionError(f"Redis at {redis_url} unreachable for 10 s")
        _check_free(bus, redis_url)
        _run(bus, client, stop, started)
    finally:
        bus.close()
        client.close()


def _run(
    bus: Bus, client: redis.Redis, stop: threading.Event, started: threading.Event | None
) -> None:
    axis = _Axis(bus, client)
    target = Channel(TARGET, value=0.0, bus=bus, self_updates=False)
    move_stop = Channel(f"axis.{AXIS}.move_stop", default_value=False, bus=bus, self_updates=False)
    md5 = Channel(MUSST, value="9e107d9d372bb6826bd81d3542a419d6", bus=bus)
    requests: collections.deque[float] = collections.deque()
    stopped = threading.Event()

    # Callbacks run in the bus reader: they only hand the value over to this thread.
    def on_target(value: Any) -> None:
        requests.append(float(value))

    def on_move_stop(value: Any) -> None:
        if value:
            stopped.set()

    target.register_callback(on_target)
    move_stop.register_callback(on_move_stop)
    if started is not None:
        started.set()
    log.info(
        "demo motor: axis %s, %s and %s published (%s)",
        AXIS,
        TARGET,
        md5.name,
        bus.describe_state(),
    )
    tour = itertools.cycle(_TOUR)
    auto, next_auto = True, time.monotonic() + 2
    while not stop.is_set():
        if requests:
            goal, auto = requests.pop(), False
            requests.clear()
        elif auto and time.monotonic() > next_auto:
            goal = next(tour)
        else:
            stop.wait(0.1)
            continue
        low, high = axis.values["low_limit"], axis.values["high_limit"]
        if not low <= goal <= high:
            log.warning(
                "demo motor: %s to %s refused, beyond its limits [%s, %s]", AXIS, goal, low, high
            )
            continue
        stopped.clear()
        _move(axis, goal, stop, stopped, requests)
        next_auto = time.monotonic() + 2


def _move(
    axis: _Axis,
    goal: float,
    stop: threading.Event,
    stopped: threading.Event,
    requests: collections.deque[float],
) -> None:
    start = axis.values["position"]
    velocity, acceleration = axis.values["velocity"], axis.values["acceleration"]
    axis.set(_set_position=goal, state=axis_state("MOVING"))
    began = time.monotonic()
    position = start
    while position != goal and not (stop.wait(_PERIOD) or stopped.is_set() or requests):
        done = travelled(time.monotonic() - began, abs(goal - start), velocity, acceleration)
        position = goal if done >= abs(goal - start) else start + math.copysign(done, goal - start)
        axis.move_to(position)
    if position != goal:  # stopped: BLISS then resets the set position to where the axis is
        axis.set(_set_position=position)
    axis.set(state=axis_state("READY"))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run(sys.argv[1], threading.Event())
