"""BeaconAxis: a BLISS axis as the Tango motor device clients expect, against BLISS 2.4 axes.

The BLISS peers are axes as BLISS makes them (``tests/support/peer.py``: BLISS's own
``Channel``, ``AxisState`` and ``settings.HashSetting``). A PyTango client subscribes to every
attribute of the motor device, as a Taurus form or an archiver does, and follows a move: every
value BLISS published, in order, at BLISS's time; State from ON to MOVING and back; the limits
as Position's min_value and max_value, with a configuration event when BLISS changes them.
Stop and Abort stop a move started in the session; a write is refused, saying why; a session
killed mid-move leaves nothing MOVING. Several motor devices and a BeaconChannels device in one
server share one bus and one publisher.
"""

from __future__ import annotations

import pytest
import tango
from tango import AttrQuality, AttrWriteType, DevState

from support import wait_for
from support.axes import (
    AXIS,
    QUICK,
    axis_name,
    device_connections,
    quality_is,
    set_state,
    state_is,
)
from support.tango_device import Events, outcome, running_device, shows

ATTRIBUTES = [
    "Position",
    "DialPosition",
    "SetPosition",
    "Offset",
    "Sign",
    "Velocity",
    "Acceleration",
    "Backlash",
    "StepsPerUnit",
    "Limit_Switches",
    "State",
]


@pytest.fixture
def bliss(redis_server, make_peer, bliss_python):
    """A new BLISS process (a session) on the test Redis."""
    return lambda: make_peer(redis_server.url, impl="bliss", python=bliss_python)


def motor(axis: str) -> str:
    return f"id00/bliss/{axis}"


def test_a_motor_device_shows_its_axis_and_follows_a_move_by_events(redis_server, bliss, unique):
    axis = axis_name(unique, "roby")
    session = bliss()
    at_one = {"position": 1.0, "dial_position": 1.0, "_set_position": 1.0}
    session.call("axis", name=axis, values={**AXIS, **at_one})
    axes = {motor(axis): {"RedisUrl": redis_server.url}}  # Axis: the name's last member
    with running_device(None, axes=axes) as device:
        proxy, _ = device
        # Each of the axis's channels comes on its own: the state may come after the position.
        wait_for(lambda: shows(proxy, "Position", 1.0), what="the position")
        wait_for(lambda: proxy.state() == DevState.ON, what="ON: the state BLISS holds")
        wait_for(
            lambda: shows(proxy, "Velocity", 100.0) and shows(proxy, "Sign", 1),
            what="the velocity and the sign",
        )
        config = proxy.get_attribute_config("Position")
        assert (config.min_value, config.max_value) == ("-100.0", "100.0")  # BLISS's limits
        assert config.writable == AttrWriteType.READ_WRITE
        assert proxy.read_attribute("Position").w_value == 1.0  # BLISS's target
        assert list(proxy.Limit_Switches) == [False, False, False]
        status = proxy.status()
        assert f"Axis {axis} is READY (Axis is READY)." in status
        assert "Held by the BLISS process" in status
        events = {name: Events(proxy, name) for name in ATTRIBUTES}
        try:
            session.call("axis_move", name=axis, to=3.0, steps=20, period=0.05)
            events["State"].wait(state_is(DevState.MOVING))
            moving = events["Position"].wait(quality_is(AttrQuality.ATTR_CHANGING))
            assert 1.0 <= moving.attr_value.value <= 3.0
            events["State"].wait(state_is(DevState.ON))
            events["Position"].wait(events["Position"].value_is(3.0))
            positions = [e.attr_value.value for e in events["Position"].seen if not e.err]
            before = [None, *positions[:-1]]
            moves = [p for p, b in zip(positions, before, strict=True) if p != b]
            steps = [1.0 + 2.0 * i / 20 for i in range(1, 21)]  # (quality changes repeat one)
            assert moves == pytest.approx([1.0, *steps])  # every value, once, in order
            stamps = [e.attr_value.time.totime() for e in events["Position"].seen[1:]]
            assert stamps == sorted(set(stamps))
            assert proxy.SetPosition == 3.0
            assert proxy.read_attribute("Position").w_value == 3.0  # BLISS's target
            assert all(not e.err for events_of in events.values() for e in events_of.seen)
        finally:
            for each in events.values():
                each.close()


def test_limits_and_switches_reach_the_configuration_alarms_and_state(
    redis_server, bliss, unique
):
    axis = axis_name(unique, "robz")
    session = bliss()
    session.call("axis", name=axis, values=AXIS)
    axes = {motor(axis): {"RedisUrl": redis_server.url}}
    with running_device(None, axes=axes) as device:
        proxy, _ = device
        wait_for(lambda: proxy.get_attribute_config("Position").max_value == "100.0")
        configs: list[tuple[str, str]] = []
        conf = proxy.subscribe_event(
            "Position",
            tango.EventType.ATTR_CONF_EVENT,
            lambda e: e.err or configs.append((e.attr_conf.min_value, e.attr_conf.max_value)),
        )
        alarms = Events(proxy, "State", tango.EventType.ALARM_EVENT)
        switches = Events(proxy, "Limit_Switches", tango.EventType.ALARM_EVENT)
        try:
            session.call("axis_set", name=axis, values={"low_limit": -5.0, "high_limit": 5.0})
            wait_for(lambda: ("-5.0", "5.0") in configs, what="the configuration event")
            with pytest.raises(tango.DevFailed, match=r"above the maximum|below the minimum"):
                proxy.write_attribute("Position", 6.0)  # Tango's own limit check
            set_state(session, axis, "READY", "LIMPOS")
            alarms.wait(lambda e: not e.err and e.attr_value.value == DevState.ALARM)
            hit = switches.wait(lambda e: not e.err and list(e.attr_value.value)[1])
            assert hit.attr_value.quality == AttrQuality.ATTR_ALARM
            assert proxy.state() == DevState.ALARM
            assert "Hardware high limit active" in proxy.status()
            for names, state in [("FAULT", DevState.FAULT), ("OFF", DevState.OFF)]:
                set_state(session, axis, names)
                wait_for(lambda s=state: proxy.state() == s)
            set_state(session, axis, "DISABLED")
            wait_for(lambda: proxy.state() == DevState.DISABLE)
        finally:
            proxy.unsubscribe_event(conf)
            alarms.close()
            switches.close()


def test_stop_and_abort_stop_a_move_and_a_write_is_refused_saying_why(
    redis_server, bliss, unique
):
    axis = axis_name(unique, "robs")
    session = bliss()
    session.call("axis", name=axis, values=AXIS)
    axes = {motor(axis): {"RedisUrl": redis_server.url}}
    with running_device(None, axes=axes) as device:
        proxy, _ = device
        wait_for(lambda: proxy.state() == DevState.ON)
        proxy.Abort()  # not moving: nothing asked (BLISS's tango_attr_as_motor does this)
        with pytest.raises(tango.DevFailed) as refused:
            proxy.write_attribute("Position", 2.0)
        error = refused.value.args[0]
        assert error.reason == "BeaconChannels_ReadOnly"
        assert f"moves of axis {axis} belong to the BLISS session that owns it" in error.desc
        for command in ("Stop", "Abort"):
            session.call("axis_move", name=axis, to=50.0, steps=5000, period=0.02)
            wait_for(lambda: proxy.state() == DevState.MOVING)
            proxy.command_inout(command)
            wait_for(lambda: proxy.state() == DevState.ON, what=f"the move stopped by {command}")
        assert session.call("axis_status", name=axis)["stops"] == 2
        log = device.log.read_text()
        assert f"Stop({axis}) from host " in log and f"Abort({axis}) from host " in log
        assert f"axis {axis} not moving" in log


def test_a_session_killed_mid_move_leaves_the_motor_unknown_and_its_settings_shown(
    redis_server, bliss, unique
):
    axis = axis_name(unique, "robk")
    session = bliss()
    session.call("axis", name=axis, values={**AXIS, "position": 4.0})
    session.call("axis_move", name=axis, to=40.0, steps=2000, period=0.05)
    axes = {motor(axis): {"RedisUrl": redis_server.url}}
    with running_device({"RedisUrl": redis_server.url, **QUICK}, axes=axes) as device:
        proxy = device.proxy(motor(axis))
        wait_for(lambda: proxy.state() == DevState.MOVING)
        session.kill()  # mid-move: MOVING is the last state it published
        wait_for(lambda: proxy.state() == DevState.UNKNOWN, timeout=20, what="nobody holds it")
        assert "no BLISS session holds it since" in proxy.status()
        wait_for(lambda: outcome(proxy, "Position")[1] == AttrQuality.ATTR_VALID)
        assert outcome(proxy, "Velocity") == (100.0, AttrQuality.ATTR_VALID)  # the hash


def test_motor_devices_and_a_channels_device_share_one_bus_in_one_server(
    own_redis, make_peer, bliss_python, unique
):
    names = [axis_name(unique, f"m{i}") for i in range(3)]
    session = make_peer(own_redis.url, impl="bliss", python=bliss_python)
    for i, name in enumerate(names):
        session.call("axis", name=name, values={**AXIS, "position": float(i)})
    axes = {motor(name): {"RedisUrl": own_redis.url} for name in names}
    channels = {"RedisUrl": own_redis.url, "Axes": [names[0]]}
    with running_device(channels, axes=axes) as device:
        proxy, _ = device
        for i, name in enumerate(names):
            wait_for(lambda i=i, n=name: shows(device.proxy(motor(n)), "Position", float(i)))
        assert shows(proxy, f"axis_{names[0]}_position", 0.0)
        assert device_connections(own_redis) == 3  # one bus (reader, writer), one survey
        assert sorted(device.proxy(motor(names[0])).get_attribute_list()) == sorted(
            [*ATTRIBUTES, "Status", "CommandsRun"]
        )


def test_the_class_s_redis_is_every_motor_device_s_default_and_status_says_so(
    redis_server, bliss, unique
):
    axis = axis_name(unique, "robc")
    session = bliss()
    session.call("axis", name=axis, values={**AXIS, "position": 2.5})
    classes = {"BeaconAxis": {"RedisUrl": redis_server.url}}
    with running_device(None, axes={motor(axis): {}}, class_properties=classes) as (proxy, _):
        wait_for(lambda: shows(proxy, "Position", 2.5), what="the position")
        assert f"Connected to Redis at {redis_server.url} (from the RedisUrl class property)." in (
            proxy.status()
        )


def test_a_server_of_both_classes_ends_cleanly(redis_server, tmp_path):
    """SIGTERM (Starter, systemd): every device leaves, the server exits 0, no crash."""
    import signal
    import subprocess

    from support.redis_server import free_port
    from support.tango_device import BEACON_CHANNELS

    db = tmp_path / "both.db"
    db.write_text(
        "BeaconChannels/both/DEVICE/BeaconChannels: test/beacon/1\n"
        "BeaconChannels/both/DEVICE/BeaconAxis: test/bliss/roby, test/bliss/robz\n"
        f"CLASS/BeaconAxis->RedisUrl: {redis_server.url}\n"
        f"test/beacon/1->RedisUrl: {redis_server.url}\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [BEACON_CHANNELS, "both", f"-file={db}", "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        for line in server.stdout:
            if "Ready to accept request" in line:
                break
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_motor_device_without_a_usable_axis_says_why(redis_server):
    axes = {"id00/bliss/2theta": {"RedisUrl": redis_server.url}}  # a name BLISS refuses
    with running_device(None, axes=axes) as (proxy, _):
        assert proxy.state() == DevState.FAULT
        assert "'2theta' (the last member of its name) is not a BLISS axis name" in proxy.status()
