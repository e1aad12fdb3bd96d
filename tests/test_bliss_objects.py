"""BLISS objects as BLISS means them, against real BLISS 2.4 processes.

The BLISS peers here are BLISS axes as BLISS makes them (``tests/support/peer.py``: BLISS's
own ``Channel``, ``AxisState`` and ``settings.HashSetting``): one channel per setting, the
settings persisted in the hash ``axis.<n>``, ``move_stop`` honoured. What a beamline would hit
on the first day, each checked: a session killed mid-move must not leave MOVING to the next
one (with one device on Redis, and with two), an ``initialized`` cache must start from its
default for a new session, axes read like motors, a move started by a BLISS process can be
stopped from Tango, writes BLISS would only take as events are refused, and the persisted
settings are shown while no session runs.
"""

from __future__ import annotations

import contextlib

import pytest
import redis
import tango
from tango import AttrQuality, AttrWriteType, DevState

from support import wait_for
from support.axes import AXIS, QUICK, axis_name, quality_is, set_state, state_is
from support.redis_server import wait_held
from support.tango_device import Events, outcome, running_device, shows
from tango_channels import Channel


@pytest.fixture
def bliss(redis_server, make_peer, bliss_python):
    """A new BLISS process (a session) on the test Redis."""
    return lambda: make_peer(redis_server.url, impl="bliss", python=bliss_python)


# ------------------------------------------------------------------ invisible to BLISS
@pytest.mark.parametrize("devices", [1, 2])
def test_a_session_killed_mid_move_leaves_no_moving_state_to_the_next(
    redis_server, bliss, unique, devices
):
    axis = axis_name(unique, "roby")
    first = bliss()
    first.call("axis", name=axis, values=AXIS)
    first.call("axis_move", name=axis, to=10.0, steps=2000, period=0.05)  # a long move
    properties = {"RedisUrl": redis_server.url, "Axes": [axis], **QUICK}
    with contextlib.ExitStack() as stack:
        proxies = [stack.enter_context(running_device(properties))[0] for _ in range(devices)]
        for proxy in proxies:
            wait_for(lambda p=proxy: shows(p, f"axis_{axis}_state", DevState.MOVING))
        first.kill()  # mid-move: no goodbye, MOVING is the last value it published
        for proxy in proxies:
            wait_for(  # after REJOIN_WINDOW from its start: holders may still be rejoining
                lambda p=proxy: shows(p, f"axis_{axis}_state", DevState.UNKNOWN),
                timeout=25,
                what="the device noticing nobody holds the state",
            )
        second = bliss()
        second.call("open", name=f"axis.{axis}.state")  # as BLISS's AxisSettings opens it
        got = second.call("get", name=f"axis.{axis}.state")
        assert got["value"] is None  # BLISS's own start: no value, read the hardware


def test_an_initialized_cache_starts_from_its_default_for_a_new_session(
    redis_server, bliss, unique
):
    """BLISS clears channel data when the last holder goes, "to prevent unwanted hardware
    initialization" only while an object is in use: after a power cycle, init runs again."""
    obj = axis_name(unique, "wago")
    cache = f"{obj}:initialized"
    first = bliss()
    first.call("cache", obj=obj, key="initialized", default=0)
    first.call("set", name=cache, value=1)
    wait_held(redis_server, cache)
    properties = {"RedisUrl": redis_server.url, "Channels": [cache], **QUICK}
    with running_device(properties) as (proxy, _):
        attribute = proxy.AttributeName(cache)
        assert shows(proxy, attribute, 1)
        first.kill()
        wait_for(lambda: "no BLISS process holds" in str(outcome(proxy, attribute)[1]))
        what, why = outcome(proxy, attribute)
        assert what == "error" and f"{cache} since " in why and "(last value 1)" in why
        second = bliss()
        second.call("cache", obj=obj, key="initialized", default=0)
        assert second.call("get", name=cache)["value"] == 0
        wait_for(lambda: shows(proxy, attribute, 0), what="the new session's default shown")


# ------------------------------------------------------------------ axes like motors
def test_an_axes_glob_finds_live_axes_and_axes_known_only_by_their_settings(
    redis_server, bliss, unique
):
    live, gone = axis_name(unique, "a"), axis_name(unique, "b")
    ended = bliss()
    ended.call(
        "axis", name=gone, values={**AXIS, "position": 7.5, "velocity": 42.0, "low_limit": None}
    )
    ended.close()  # the session ends: its channels go, its hash stays
    session = bliss()
    session.call("axis", name=live, values={**AXIS, "position": 1.25, "dial_position": 1.25})
    glob = axis_name(unique, "?")
    properties = {"RedisUrl": redis_server.url, "Axes": [f"{glob} unit=mm format=%.3f"], **QUICK}
    with running_device(properties) as (proxy, _):
        wait_for(lambda: shows(proxy, f"axis_{gone}_position", 7.5), what="the persisted one")
        assert shows(proxy, f"axis_{live}_position", 1.25)
        assert shows(proxy, f"axis_{gone}_velocity", 42.0)
        assert shows(proxy, f"axis_{gone}_sign", 1)
        assert shows(proxy, f"axis_{gone}_state", DevState.UNKNOWN)
        assert outcome(proxy, f"axis_{gone}_low_limit") == (None, AttrQuality.ATTR_INVALID)
        wait_for(  # Status sums up the attributes after the turn that showed them
            lambda: "shown from BLISS settings: no session holds them" in proxy.status(),
            what="Status saying where the values come from",
        )
        for name, unit in [("position", "mm"), ("velocity", "mm/s"), ("acceleration", "mm/s^2")]:
            config = proxy.get_attribute_config(f"axis_{live}_{name}")
            assert config.unit == unit and config.writable == AttrWriteType.READ
        assert proxy.get_attribute_config(f"axis_{live}_position").format == "%.3f"
        state = proxy.get_attribute_config(f"axis_{live}_state")
        assert state.data_type == tango.CmdArgType.DevState
        assert proxy.read_attribute(f"axis_{live}_state_names").value == "READY"
        assert proxy.ChannelName(f"axis_{live}__set_position") == f"axis.{live}._set_position"
        assert proxy.state() == DevState.ON, proxy.status()


def test_the_state_and_the_position_quality_follow_a_move_and_a_limit(
    redis_server, bliss, unique
):
    axis = axis_name(unique, "roby")
    session = bliss()
    session.call("axis", name=axis, values=AXIS)
    properties = {"RedisUrl": redis_server.url, "Axes": [axis], **QUICK}
    with running_device(properties) as (proxy, _):
        states = Events(proxy, f"axis_{axis}_state")
        positions = Events(proxy, f"axis_{axis}_position")
        try:
            states.wait(state_is(DevState.ON))
            session.call("axis_move", name=axis, to=2.0, steps=20, period=0.05)
            states.wait(state_is(DevState.MOVING))
            moving = positions.wait(quality_is(AttrQuality.ATTR_CHANGING))
            assert 0.0 <= moving.attr_value.value <= 2.0
            states.wait(state_is(DevState.ON))
            positions.wait(
                lambda e: not e.err
                and e.attr_value.quality == AttrQuality.ATTR_VALID
                and e.attr_value.value == 2.0
            )
            set_state(session, axis, "READY", "LIMPOS")
            states.wait(state_is(DevState.ALARM))
            positions.wait(quality_is(AttrQuality.ATTR_ALARM))
            assert proxy.read_attribute(f"axis_{axis}_state_names").value == "READY LIMPOS"
            for names, state in [("FAULT", DevState.FAULT), ("OFF", DevState.OFF)]:
                set_state(session, axis, names)
                states.wait(state_is(state))
            set_state(session, axis, "DISABLED")
            states.wait(state_is(DevState.DISABLE))
            positions.wait(quality_is(AttrQuality.ATTR_VALID))
        finally:
            states.close()
            positions.close()


def test_stop_axes_ends_a_move_started_by_a_bliss_process(redis_server, bliss, unique):
    axis, other = axis_name(unique, "roby"), axis_name(unique, "robz")
    session = bliss()
    session.call("axis", name=axis, values=AXIS)
    session.call("axis", name=other, values=AXIS)
    properties = {"RedisUrl": redis_server.url, "Axes": [axis, other], **QUICK}
    with running_device(properties) as device:
        proxy, _ = device
        session.call("axis_move", name=axis, to=50.0, steps=5000, period=0.02)
        wait_for(lambda: shows(proxy, f"axis_{axis}_state", DevState.MOVING))
        assert proxy.StopAxes([]) == 1  # the one moving, not the other
        wait_for(lambda: session.call("axis_status", name=axis)["stops"] == 1, what="the stop")
        wait_for(lambda: shows(proxy, f"axis_{axis}_state", DevState.ON))
        assert session.call("axis_status", name=other)["stops"] == 0
        assert proxy.StopAxes([other]) == 1  # named: asked, moving or not
        assert f"StopAxes(['{other}']) from host " in device.log.read_text()  # the audit trail
        # Published, not held: once the session that took it ends, a new one reads BLISS's
        # default, False (the device holds nothing of it).
        session.close()
        newcomer = bliss()
        newcomer.call("open", name=f"axis.{axis}.move_stop", default=False)
        assert newcomer.call("get", name=f"axis.{axis}.move_stop")["value"] is False


def test_writes_bliss_would_only_take_as_events_are_refused(redis_server, make_bus, unique):
    axis = axis_name(unique, "roby")
    bus = make_bus(redis_server.url)
    held = Channel(f"axis.{axis}z.velocity", value=100.0, bus=bus)
    wait_held(redis_server, held.name)
    lines = [
        f"axis.{axis}.velocity type=float access=rw",
        f"axis.{axis}.state type=state",
        f"axis.{axis}*.velocity access=rw",
        f"{axis}:setpoint type=float access=rw",  # not BLISS's: writable
    ]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        assert proxy.state() == DevState.FAULT
        status = proxy.status()
        assert (
            f"line 1: axis.{axis}.velocity is a BLISS axis setting: a value written on its "
            "channel is only an event in BLISS; change it in BLISS" in status
        )
        assert f"'axis.{axis}.velocity type=float access=rw'" in status
        assert f"axis.{axis}z.velocity is a BLISS axis setting" in status
        attribute = proxy.AttributeName(held.name)
        assert proxy.get_attribute_config(attribute).writable == AttrWriteType.READ
        setpoint = proxy.get_attribute_config(proxy.AttributeName(f"{axis}:setpoint"))
        assert setpoint.writable == AttrWriteType.READ_WRITE


# ------------------------------------------------------------------ values when no session
def test_settings_are_shown_when_the_session_ends_and_live_values_win_when_one_starts(
    redis_server, bliss, unique
):
    axis = axis_name(unique, "roby")
    position = f"axis_{axis}_position"
    session = bliss()
    session.call("axis", name=axis, values={**AXIS, "position": 1.5})
    properties = {"RedisUrl": redis_server.url, "Axes": [axis], **QUICK}
    with running_device(properties) as (proxy, _):
        wait_for(lambda: shows(proxy, position, 1.5))
        session.call("axis_set", name=axis, values={"position": 2.0})
        wait_for(lambda: shows(proxy, position, 2.0), what="the live value")
        events = Events(proxy, position)
        try:
            session.close()  # the session ends
            wait_for(lambda: "shown from BLISS settings" in proxy.status())
            assert shows(proxy, position, 2.0)  # now from the hash, VALID
            assert shows(proxy, f"axis_{axis}_state", DevState.UNKNOWN)
            client = redis.Redis.from_url(redis_server.url)
            client.hset(f"axis.{axis}", "position", "3.0")  # BLISS's BlissBrother would too
            client.close()
            events.wait(events.value_is(3.0))  # polled, pushed as an event
        finally:
            events.close()
        again = bliss()  # a new session: its live values win over the hash
        again.call("axis", name=axis, values={**AXIS, "position": 4.0})
        wait_for(lambda: shows(proxy, position, 4.0), what="the new session's value")
        wait_for(
            lambda: "shown from BLISS settings" not in proxy.status(),
            what="Status no longer saying the settings are shown",
        )


def test_a_plain_channel_line_can_fall_back_on_a_setting(redis_server, make_bus, unique):
    obj = axis_name(unique, "safshut")
    client = redis.Redis.from_url(redis_server.url)
    client.hset(f"shutter:{obj}", "state", "CLOSED")
    client.close()
    lines = [f"{obj}:state type=str setting=shutter:{obj}/state"]
    properties = {"RedisUrl": redis_server.url, "Channels": lines, **QUICK}
    with running_device(properties) as (proxy, _):
        attribute = proxy.AttributeName(f"{obj}:state")
        wait_for(lambda: shows(proxy, attribute, "CLOSED"), what="the setting")
        bus = make_bus(redis_server.url)
        live = Channel(f"{obj}:state", value="OPEN", bus=bus)
        wait_for(lambda: shows(proxy, attribute, "OPEN"), what="the live value")
        live.close()
        wait_for(lambda: shows(proxy, attribute, "CLOSED"), what="the setting again")
