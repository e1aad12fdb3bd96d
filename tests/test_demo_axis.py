"""The quick start's demo motor is, to BLISS 2.4 itself, a BLISS axis ``roby``: its channels
carry what an axis's carry (a real ``AxisState``, an int sign, None limits), its settings hash
reads as ``settings.HashSetting`` reads an axis's, and ``move_stop`` stops it as it stops one."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator

import pytest

from support import wait_for
from tango_channels_deploy import demo_motor

_HASH = """
import json, sys, redis
from bliss.config import settings
connection = redis.Redis.from_url(sys.argv[1])  # BLISS holds it weakly
hash = settings.HashSetting("axis.roby", connection=connection)
print(json.dumps({key: [type(value).__name__, value] for key, value in hash.items()}))
"""


@pytest.fixture
def demo_axis(own_redis) -> Iterator[str]:
    stop, started = threading.Event(), threading.Event()
    motor = threading.Thread(target=demo_motor.run, args=(own_redis.url, stop, started))
    motor.start()
    assert started.wait(20), "the demo motor did not start"
    yield own_redis.url
    stop.set()
    motor.join(timeout=10)


def test_bliss_reads_the_demo_axis_as_an_axis(demo_axis, make_peer, bliss_python):
    bliss = make_peer(demo_axis, impl="bliss", python=bliss_python)
    for setting in [*demo_motor.SETTINGS, "state"]:
        bliss.call("open", name=f"axis.roby.{setting}")
    state = bliss.call("get", name="axis.roby.state")
    assert state["type"] == "bliss.common.axis.state.AxisState", state
    assert state["value"]["states"] in (["READY"], ["MOVING"])
    assert bliss.call("get", name="axis.roby.sign")["type"] == "builtins.int"
    assert bliss.call("get", name="axis.roby.velocity_low_limit")["value"] is None
    for setting in ("position", "dial_position", "velocity", "low_limit", "steps_per_unit"):
        assert bliss.call("get", name=f"axis.roby.{setting}")["type"] == "builtins.float"

    read = subprocess.run(
        [bliss_python, "-c", _HASH, demo_axis], capture_output=True, text=True, timeout=60
    )
    assert read.returncode == 0, read.stderr[-2000:]
    persisted = json.loads(read.stdout)
    assert set(persisted) == set(demo_motor.SETTINGS), "every setting but state, nothing else"
    assert persisted["sign"] == ["int", 1]
    assert persisted["high_limit"] == ["float", 12.0]
    assert persisted["velocity_high_limit"] == ["str", "None"]  # BLISS's AxisSettings: None


def test_move_stop_from_bliss_stops_a_move(demo_axis, make_peer, bliss_python):
    bliss = make_peer(demo_axis, impl="bliss", python=bliss_python)
    for name in ("axis.roby.state", "axis.roby.position", "axis.roby._set_position"):
        bliss.call("open", name=name)
    bliss.call("open", name="axis.roby.move_stop", default=False)
    bliss.call("open", name=demo_motor.TARGET)

    def states() -> list[str]:
        return bliss.call("get", name="axis.roby.state")["value"]["states"]

    def set_position() -> float:
        return bliss.call("get", name="axis.roby._set_position")["value"]

    bliss.call("set", name=demo_motor.TARGET, value=-11.5)
    wait_for(lambda: set_position() == -11.5 and states() == ["MOVING"], 10, "a move to -11.5")
    bliss.call("set", name="axis.roby.move_stop", value=True)
    wait_for(lambda: states() == ["READY"], 10, "roby stopped")
    position = bliss.call("get", name="axis.roby.position")["value"]
    assert position != -11.5
    assert set_position() == position, "BLISS's rule: a stopped axis is set where it is"
