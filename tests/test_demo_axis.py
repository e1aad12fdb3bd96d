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
from tango_channels import Channel
from tango_channels_deploy import demo_motor

# BLISS opening an axis's channels as a session does (all at once, AxisSettings.init_channels)
# and reading its settings hash. One at a time, with gevent turns in between (as peer.py
# does), BLISS 2.4 now and then publishes a channel's query before its SUBSCRIBE reaches
# Redis, loses the answer and waits its full timeout: a race of BLISS's own, seen here with
# MONITOR, that says nothing about the demo.
_READ = """
import json, sys
from gevent import monkey
monkey.patch_all(thread=False)
import redis
from bliss.config import settings
from bliss.config.channels import Channel
connection = redis.Redis.from_url(sys.argv[1])  # BLISS holds it weakly
names = sys.argv[2:]
channels = [Channel(f"axis.roby.{name}", redis=connection) for name in names]
values = {}
for name, channel in zip(names, channels):
    value = channel.value
    kind = type(value)
    values[name] = [f"{kind.__module__}.{kind.__qualname__}", repr(value)]
hash = settings.HashSetting("axis.roby", connection=connection)
print(json.dumps({"channels": values, "hash": {k: [type(v).__name__, v] for k, v in hash.items()}}))
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


def test_bliss_reads_the_demo_axis_as_an_axis(demo_axis, bliss_python):
    names = [*demo_motor.SETTINGS, "state"]
    read = subprocess.run(
        [bliss_python, "-c", _READ, demo_axis, *names], capture_output=True, text=True, timeout=60
    )
    assert read.returncode == 0, read.stderr[-2000:]
    seen = json.loads(read.stdout)
    kinds = {name: kind for name, (kind, _) in seen["channels"].items()}
    assert kinds.pop("state") == "bliss.common.axis.state.AxisState"
    assert kinds.pop("sign") == "builtins.int"
    assert (
        kinds.pop("velocity_low_limit") == kinds.pop("velocity_high_limit") == "builtins.NoneType"
    )
    assert set(kinds.values()) == {"builtins.float"}, kinds
    assert seen["channels"]["state"][1] in (
        "AxisState: READY (Axis is READY)",
        "AxisState: MOVING (Axis is MOVING)",
    )

    persisted = seen["hash"]
    assert set(persisted) == set(demo_motor.SETTINGS), "every setting but state, nothing else"
    assert persisted["sign"] == ["int", 1]
    assert persisted["high_limit"] == ["float", 12.0]
    assert persisted["velocity_high_limit"] == ["str", "None"]  # BLISS's AxisSettings: None


def test_move_stop_from_bliss_stops_a_move(demo_axis, make_peer, bliss_python, make_bus):
    bus = make_bus(demo_axis)
    state, position, set_position = (
        Channel(f"axis.roby.{name}", bus=bus) for name in ("state", "position", "_set_position")
    )

    def states() -> list[str]:
        return state.value.state["_current_states"]

    bliss = make_peer(demo_axis, impl="bliss", python=bliss_python)
    bliss.call("open", name="axis.roby.move_stop", default=False)
    bliss.call("open", name=demo_motor.TARGET)
    bliss.call("set", name=demo_motor.TARGET, value=-11.5)
    wait_for(lambda: set_position.value == -11.5 and states() == ["MOVING"], 10, "a move to -11.5")
    bliss.call("set", name="axis.roby.move_stop", value=True)
    # BLISS's rule for a stopped axis: its set position becomes where it is.
    wait_for(
        lambda: states() == ["READY"] and set_position.value == position.value,
        10,
        "roby stopped, set where it is",
    )
    assert position.value != -11.5
