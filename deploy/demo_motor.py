"""A simulated BLISS-like motor publishing through tango_channels (for the quick start).

It holds, as a BLISS session would: ``demo.roby.position`` (mm), ``demo.roby.state`` (a real
BLISS ``AxisState`` on the wire: READY or MOVING), ``demo.roby.velocity`` (mm/s),
``demo.roby.target`` (set it to move the motor there) and ``demo.musst:last__md5`` (a cached
parameter). It moves on its own from time to time.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time

from tango_channels import Bus, Channel
from tango_channels.wire.opaque import opaque_class

log = logging.getLogger("demo_motor")

_AxisState = opaque_class("bliss.common.axis.state", "AxisState")
_DESCRIPTIONS = {"READY": "Axis is READY", "MOVING": "Axis is MOVING"}


def axis_state(name: str) -> object:
    """An object that BLISS decodes as ``AxisState(name)``."""
    state = _AxisState()
    state.state = {"_current_states": [name], "_state_desc": dict(_DESCRIPTIONS)}
    return state


def run(redis_url: str, stop: threading.Event) -> None:
    bus = Bus(redis_url)
    position = Channel("demo.roby.position", value=0.0, bus=bus)
    state = Channel("demo.roby.state", value=axis_state("READY"), bus=bus)
    velocity = Channel("demo.roby.velocity", value=2.0, bus=bus)
    target = Channel("demo.roby.target", value=0.0, bus=bus)
    md5 = Channel("demo.musst:last__md5", value="9e107d9d372bb6826bd81d3542a419d6", bus=bus)
    goals: list[float] = []

    def on_target(value: float) -> None:
        goals.append(float(value))

    target.register_callback(on_target)
    log.info("demo motor holding demo.roby.* and %s", md5.name)
    next_auto = time.monotonic() + 3
    while not stop.is_set():
        if goals:
            goal = goals.pop()
        elif time.monotonic() > next_auto:
            goal = round(10 * math.sin(time.monotonic() / 7), 2)
            next_auto = time.monotonic() + 6
        else:
            stop.wait(0.1)
            continue
        state.value = axis_state("MOVING")
        start = position.value
        steps = max(1, int(abs(goal - start) / velocity.value / 0.05))
        for step in range(1, steps + 1):
            if stop.wait(0.05) or goals:
                break
            position.value = round(start + (goal - start) * step / steps, 4)
        state.value = axis_state("READY")
    bus.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run(sys.argv[1], threading.Event())
