"""A real beamline's Beacon: BLISS 2.4's own beacon-server and BLISS processes using it.

``support.bliss_beacon`` starts ``beacon-server`` with two plain Redis servers and a config
tree holding the mockup motor ``roby``, and BLISS processes (``support/bliss_session.py``)
that get their objects from it, as sessions do. Here:

- an *owner* session moves ``roby``, and our library sees the positions arrive on the Redis
  Beacon hands out (the one a bridge must use), with the ``axis.roby`` settings hash there too;
  another process stops that move through ``axis.roby.move_stop``, as BLISS does;
- a *client* session (another computer, another beamline) has ``roby_t``, a
  ``tango_attr_as_motor`` axis configured with nothing but the ``uri:`` of ``roby``'s
  BeaconAxis device (our server, finding Redis through Beacon): it reads the position, the
  state and the limits, follows a move of the real axis by events, stops it with ``stop()``,
  and gets an error when it asks for a move, the axis left where it was.

What ``tango_attr_as_motor`` (BLISS 2.4.0) does, read in its code and checked here: it reads
the attribute ``position`` (``pos_attr``; Tango names are case-insensitive, ``Position``
answers) and ``state`` (``state_attr``), and calls ``Abort`` (``stop_cmd``); the limits are
the position's ``min_value``/``max_value``; it follows the device through change events on
``position`` (value and write value) and ``state``, and configuration events on ``position``.
"""

from __future__ import annotations

import contextlib
import os
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from tango import DevState

from support import wait_for
from support.bliss_beacon import (
    ROBY_YAML,
    Beacon,
    BlissSession,
    SessionError,
    bliss_full_venv,
    tango_attr_as_motor_yaml,
)
from support.tango_device import RunningDevice, running_device
from tango_channels import Channel
from tango_channels.transport.address import ask_beacon

DEVICE = "id00/bliss/roby"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def bliss_full_python() -> Path:
    """The full BLISS venv (built on first use, then cached); skips when it can't be built,
    unless TANGO_CHANNELS_REQUIRE_BLISS=1 (as in CI), where that is a failure."""
    try:
        return bliss_full_venv()
    except Exception as exc:
        if os.environ.get("TANGO_CHANNELS_REQUIRE_BLISS") == "1":
            pytest.fail(f"the full BLISS venv is required but could not be built: {exc}")
        pytest.skip(f"the full BLISS venv could not be built (no package index?): {exc}")


@pytest.fixture(scope="module")
def beacon(bliss_full_python, tmp_path_factory) -> Iterator[Beacon]:
    with Beacon(tmp_path_factory.mktemp("beacon"), bliss_full_python) as beacon:
        yield beacon


@pytest.fixture(scope="module")
def owner(beacon: Beacon) -> BlissSession:
    """The session owning ``roby`` (a mockup motor), its position and state watched."""
    session = beacon.session("owner")
    session.call("axis", name="roby")
    session.call("watch", name="roby")
    return session


@pytest.fixture(scope="module")
def motor(beacon: Beacon, owner: BlissSession) -> Iterator[RunningDevice]:
    """``roby``'s BeaconAxis device, in our server, finding Redis as BLISS does (Beacon)."""
    with running_device(None, axes={DEVICE: {"BeaconHost": beacon.host}}) as device:
        wait_for(lambda: device[0].state() == DevState.ON, what="the motor device ON")
        yield device


@pytest.fixture(scope="module")
def client(beacon: Beacon, motor: RunningDevice) -> BlissSession:
    """A session with ``roby_t``: ``class: tango_attr_as_motor``, nothing but ``uri:``, once it
    has subscribed to the device's events (a greenlet does that after the axis initialises)."""
    beacon.write_config("roby_t.yml", tango_attr_as_motor_yaml("roby_t", motor.address(DEVICE)))
    session = beacon.session("client")
    session.call("axis", name="roby_t")
    session.call("watch", name="roby_t")
    wait_for(
        lambda: session.call("read", name="roby_t")["tango_events"],
        timeout=15,
        what="roby_t subscribing to its device's events",
    )
    return session


def drain(session: BlissSession) -> None:
    """Forget the events received so far (those of earlier tests)."""
    with contextlib.suppress(queue.Empty):
        while True:
            session.events.get_nowait()


def is_state(*names: str):
    return lambda e: e["event"] == "state" and e["value"] == list(names)


# ------------------------------------------------------------------ our library on a real Beacon
def test_a_move_in_a_real_session_reaches_our_library_through_the_redis_beacon_hands_out(
    beacon, owner, make_bus
):
    assert ask_beacon(beacon.host).url == beacon.redis_url  # the library asks Beacon as BLISS
    bus = make_bus(beacon.redis_url)
    assert bus.wait_connected(5)
    received: queue.Queue[float] = queue.Queue()

    def on_position(value: float) -> None:  # held here: callbacks are weak references
        received.put(value)

    position = Channel("axis.roby.position", bus=bus, callback=on_position)
    start = owner.call("read", name="roby")["position"]
    assert position.value == pytest.approx(start)  # answered by the owner
    target = start + 3.0 if start < 20 else start - 3.0
    drain(owner)

    owner.call("move", name="roby", target=target)
    seen = []
    while not seen or seen[-1] != pytest.approx(target):
        seen.append(received.get(timeout=10))
    done = owner.call("wait_move", name="roby")

    passing = [v for v in seen if min(start, target) < v < max(start, target)]
    assert len(passing) >= 5, seen  # the positions of the motion, not only its end
    assert seen == sorted(seen, reverse=target < start)
    assert done["position"] == pytest.approx(target) and done["state"] == ["READY"]
    # the owner's BLISS saw the same motion (its own events, each with its time)
    ready, before = owner.wait_event(is_state("READY"))
    assert ["MOVING"] in [e["value"] for e in before if e["event"] == "state"]
    assert [e["value"] for e in before if e["event"] == "position"][-1] == pytest.approx(target)
    times = [e["time"] for e in [*before, ready]]
    assert times == sorted(times)
    # settings and channels are on the settings Redis; the data Redis has none of them
    settings = redis.Redis.from_url(beacon.redis_url)
    data = redis.Redis.from_url(beacon.data_redis_url)
    try:
        persisted = settings.hgetall("axis.roby")
        assert float(persisted[b"position"]) == pytest.approx(target)
        assert float(persisted[b"velocity"]) == 2.0 and float(persisted[b"acceleration"]) == 8.0
        assert b"axis.roby.state" in settings.pubsub_channels("axis.roby.*")
        assert not data.exists("axis.roby") and not data.pubsub_channels("axis.roby.*")
    finally:
        settings.close()
        data.close()
    assert beacon.redis_data_address() == f"127.0.0.1:{beacon.data_redis.port}"


def test_another_process_stops_the_owners_move_through_move_stop(beacon, owner, make_bus):
    """What BLISS does to stop a move another session started (``Axis.stop``): set
    ``axis.<n>.move_stop``; the owner stops its motor."""
    bus = make_bus(beacon.redis_url)
    assert bus.wait_connected(5)
    move_stop = Channel("axis.roby.move_stop", bus=bus)
    assert move_stop.value is False
    start = owner.call("read", name="roby")["position"]
    target = start + 20.0 if start < 0 else start - 20.0  # 10 s, if nothing stopped it
    drain(owner)

    owner.call("move", name="roby", target=target)
    owner.wait_event(lambda e: e["event"] == "position" and e["value"] != start)
    move_stop.value = True
    stopped = owner.call("wait_move", name="roby", timeout=10)

    assert stopped["state"] == ["READY"]
    assert 0 < abs(stopped["position"] - start) < 10.0  # stopped in the first half
    assert owner.call("read", name="roby")["position"] == pytest.approx(stopped["position"])


def test_a_config_file_written_after_a_session_loaded_its_config_is_seen_after_reload(
    beacon, owner
):
    beacon.write_config("more/robz.yml", ROBY_YAML.replace("name: roby", "name: robz"))
    with pytest.raises(SessionError, match="ObjectNotFound"):
        owner.call("axis", name="robz")

    owner.call("reload")

    assert owner.call("axis", name="robz")["limits"] == [-50.0, 50.0]
    assert owner.call("read", name="roby")["state"] == ["READY"]  # the owner's axis still works


# ------------------------------------------------------------------ BLISS as a Tango motor client
def test_tango_attr_as_motor_reads_position_state_and_limits_from_beacon_axis(
    client, owner, motor
):
    roby_t = client.call("read", name="roby_t")
    roby = owner.call("read", name="roby")

    assert roby_t["class"].endswith("tango_attr_as_motor.TangoAttrMotorAxis")
    assert roby_t["position"] == pytest.approx(roby["position"])
    assert roby_t["state"] == ["READY"] and motor[0].state() == DevState.ON
    assert roby_t["limits"] == [-50.0, 50.0]  # roby's, as Position's min_value and max_value
    assert "Held by the BLISS process" in motor[0].status()


def test_a_move_of_the_real_axis_is_followed_by_events_and_stop_stops_it(
    client, owner, motor
):
    start = owner.call("read", name="roby")["position"]
    target = start + 20.0 if start < 0 else start - 20.0  # 10 s, if nothing stopped it
    drain(client)

    owner.call("move", name="roby", target=target)
    client.wait_event(is_state("MOVING"))
    followed = [client.wait_event(lambda e: e["event"] == "position")[0] for _ in range(3)]
    moving = client.call("read", name="roby_t")
    stopped = client.call("stop", name="roby_t")  # Abort, then waits for State to leave MOVING
    done = owner.call("wait_move", name="roby", timeout=10)

    assert stopped["state"] == ["READY"] and done["state"] == ["READY"]
    assert 0 < abs(done["position"] - start) < 10.0  # stopped in the first half
    values = [e["value"] for e in followed]
    assert values == sorted(values, reverse=target < start) and values[0] != start
    wait_for(lambda: client.call("read", name="roby_t")["position"] == pytest.approx(
        done["position"]
    ), what="the stopped position, in the client")
    # BLISS's set point (the base of its relative moves) is Position's write value: the target
    assert moving["set_position"] == pytest.approx(target)
    assert not moving["is_moving"]  # the motion is the owner's, not the client's
    assert "Abort(roby) from host " in motor.log.read_text()  # the audit trail


def test_a_move_asked_in_bliss_is_refused_by_beacon_axis_and_the_axis_stays(
    client, owner, motor
):
    before = owner.call("read", name="roby")
    target = before["position"] + 1.0

    result = client.call("try_move", name="roby_t", target=target)

    assert result["refused"]
    assert result["error_type"] == "tango._tango.DevFailed"
    assert result["errors"][0] == (
        "axis roby not moved: moves of axis roby belong to the BLISS session that owns it; "
        "this device shows the axis and stops it (Stop, Abort), it does not move it"
    )
    assert owner.call("read", name="roby")["position"] == pytest.approx(before["position"])
    assert result["state"] == ["READY"] and motor[0].state() == DevState.ON
    # BLISS ends a motion that failed to start with the stop command: Abort while not moving
    # asks nothing of the owner
    assert "Abort(roby) from host " in motor.log.read_text()
    assert "axis roby not moving" in motor.log.read_text()
