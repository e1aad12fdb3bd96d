"""The BeaconChannels device: a real server process, real Redis, holders in this process.

This test process holds the channels (through tango_channels, as BLISS would), the device
server runs forked, clients read attributes and subscribe to real events.
"""

from __future__ import annotations

import threading
import time

import numpy
import pytest
import tango
from tango import AttrDataFormat, AttrQuality, CmdArgType, DevState

from support import wait_for
from support.redis_server import wait_held
from support.tango_device import Events, running_device, shows
from tango_channels import Channel
from tango_channels.wire.opaque import opaque_class
from tango_channels_device.bridge.axes import axis_state


def shutter(value: str):
    member = opaque_class("bliss.common.base_shutter", "BaseShutterState")(value)
    member._called = True
    return member


@pytest.fixture
def hold(bus):
    """Channels held by this process (a BLISS-like holder), kept alive for the test."""
    held: list[Channel] = []

    def make(name: str, value):
        channel = Channel(name, value=value, bus=bus)
        held.append(channel)
        return channel

    return make


ROWS = [
    # channel value, Channels options, Tango type, format, value read back
    (True, "", CmdArgType.DevBoolean, AttrDataFormat.SCALAR, True),
    (-(2**40), "", CmdArgType.DevLong64, AttrDataFormat.SCALAR, -(2**40)),
    (3.25, "", CmdArgType.DevDouble, AttrDataFormat.SCALAR, 3.25),
    ("READY", "", CmdArgType.DevString, AttrDataFormat.SCALAR, "READY"),
    (numpy.arange(4.0), "", CmdArgType.DevDouble, AttrDataFormat.SPECTRUM, numpy.arange(4.0)),
    (
        numpy.arange(3, dtype=numpy.int32),
        "",
        CmdArgType.DevLong,
        AttrDataFormat.SPECTRUM,
        numpy.arange(3, dtype=numpy.int32),
    ),
    (
        numpy.ones((2, 3), dtype=numpy.uint16),
        "",
        CmdArgType.DevUShort,
        AttrDataFormat.IMAGE,
        numpy.ones((2, 3), dtype=numpy.uint16),
    ),
    ([1, 2.5, 3], "", CmdArgType.DevDouble, AttrDataFormat.SPECTRUM, numpy.array([1, 2.5, 3])),
    ([1, 2, 3], "", CmdArgType.DevLong64, AttrDataFormat.SPECTRUM, numpy.array([1, 2, 3])),
    (["a", "b"], "", CmdArgType.DevString, AttrDataFormat.SPECTRUM, ("a", "b")),
    (
        axis_state("MOVING", "LIMPOS"),
        "",
        CmdArgType.DevString,
        AttrDataFormat.SCALAR,
        "MOVING LIMPOS",
    ),
    (
        axis_state("MOVING", "LIMPOS"),
        "type=state",
        CmdArgType.DevState,
        AttrDataFormat.SCALAR,
        DevState.MOVING,
    ),
    (axis_state("READY"), "type=state", CmdArgType.DevState, AttrDataFormat.SCALAR, DevState.ON),
    (
        axis_state("DISABLED"),
        "type=state",
        CmdArgType.DevState,
        AttrDataFormat.SCALAR,
        DevState.DISABLE,
    ),
    (
        axis_state("READY", "LIMPOS"),
        "type=state",
        CmdArgType.DevState,
        AttrDataFormat.SCALAR,
        DevState.ALARM,
    ),
    (shutter("Open"), "", CmdArgType.DevString, AttrDataFormat.SCALAR, "Open"),
    (
        shutter("Closed"),
        "type=enum:Open,Closed,Fault",
        CmdArgType.DevEnum,
        AttrDataFormat.SCALAR,
        1,
    ),
    (
        {"gain": 2, "mode": "fast"},
        "",
        CmdArgType.DevString,
        AttrDataFormat.SCALAR,
        '{"gain": 2, "mode": "fast"}',
    ),
    ((1, 2), "", CmdArgType.DevString, AttrDataFormat.SCALAR, "[1, 2]"),
    ({1, 2}, "", CmdArgType.DevString, AttrDataFormat.SCALAR, "[1, 2]"),
    (2**70, "", CmdArgType.DevString, AttrDataFormat.SCALAR, '"1180591620717411303424"'),
    (7, "type=float", CmdArgType.DevDouble, AttrDataFormat.SCALAR, 7.0),
]


def test_every_value_becomes_an_attribute_of_its_type(redis_server, hold, unique):
    names = [f"{unique}.row{i}" for i in range(len(ROWS))]
    for name, row in zip(names, ROWS, strict=True):
        hold(name, row[0])
    wait_held(redis_server, *names)
    lines = [f"{name} {row[1]}" for name, row in zip(names, ROWS, strict=True)]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        assert proxy.state() == DevState.ON, proxy.status()
        for name, (_, _, dtype, dformat, expected) in zip(names, ROWS, strict=True):
            attribute = proxy.AttributeName(name)
            config = proxy.get_attribute_config(attribute)
            assert (config.data_type, config.data_format) == (dtype, dformat), name
            assert config.label == name and name in config.description
            read = proxy.read_attribute(attribute)
            assert read.quality == AttrQuality.ATTR_VALID, name
            if isinstance(expected, numpy.ndarray):
                assert numpy.array_equal(read.value, expected), name
            else:
                assert read.value == expected, name


def test_a_started_device_shows_every_untyped_channel_that_has_a_value(redis_server, hold, unique):
    """Once the server answers, each channel without type= whose holder answered has its
    attribute: a GUI opened right after a restart finds all of them."""
    names = [f"{unique}.u{i:03d}" for i in range(200)]
    for index, name in enumerate(names):
        hold(name, float(index))
    wait_held(redis_server, *names)
    with running_device({"RedisUrl": redis_server.url, "Channels": names}) as (proxy, _):
        assert proxy.state() == DevState.ON, proxy.status()
        assert len(proxy.ChannelNames) == len(names)
        for index, name in enumerate(names):
            assert proxy.read_attribute(proxy.AttributeName(name)).value == float(index)


def test_events_carry_the_source_timestamp_and_no_polling_is_needed(redis_server, hold, unique):
    name = f"{unique}.roby.position"
    position = hold(name, 1.0)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [f"{name} unit=mm"]}) as (
        proxy,
        _,
    ):
        attribute = proxy.AttributeName(name)
        assert not proxy.is_attribute_polled(attribute)
        assert proxy.get_attribute_config(attribute).unit == "mm"
        change = Events(proxy, attribute)
        archive = Events(proxy, attribute, tango.EventType.ARCHIVE_EVENT)
        try:
            for value in (2.0, 3.5):
                position.value = value
                source = position.held.timestamp
                for events in (change, archive):
                    event = events.wait(events.value_is(value))
                    assert event.attr_value.time.totime() == pytest.approx(source, abs=1e-6)
                    assert event.attr_value.quality == AttrQuality.ATTR_VALID
            read = proxy.read_attribute(attribute)
            assert read.time.totime() == pytest.approx(position.held.timestamp, abs=1e-6)
        finally:
            change.close()
            archive.close()


def test_writes_are_published_and_wrong_ones_refused(redis_server, hold, unique):
    name, readonly = f"{unique}.setpoint", f"{unique}.readonly"
    setpoint = hold(name, 0.5)
    hold(readonly, 1.5)
    wait_held(redis_server, name, readonly)
    seen: list[float] = []
    got = threading.Event()

    def on_value(value: float) -> None:
        seen.append(value)
        got.set()

    setpoint.register_callback(on_value)
    settings = hold(f"{unique}.settings", {"gain": 2})
    wait_held(redis_server, f"{unique}.settings")
    lines = [f"{name} type=float access=rw", readonly, f"{unique}.settings access=rw"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, access):
        attribute = proxy.AttributeName(name)
        other_client = Events(tango.DeviceProxy(access), attribute)
        try:
            proxy.write_attribute(attribute, 2.25)
            assert got.wait(5) and seen == [2.25]
            other_client.wait(other_client.value_is(2.25))  # another GUI sees the write
        finally:
            other_client.close()
        assert proxy.read_attribute(attribute).value == 2.25

        json_attribute = proxy.AttributeName(f"{unique}.settings")
        proxy.write_attribute(json_attribute, '{"gain": 3, "mode": "slow"}')
        wait_for(lambda: settings.held.value == {"gain": 3, "mode": "slow"})
        with pytest.raises(tango.DevFailed, match="expected JSON text"):
            proxy.write_attribute(json_attribute, "{not json")
        with pytest.raises(TypeError):  # the client's own type check, for a DevDouble
            proxy.write_attribute(attribute, "fast")
        with pytest.raises(tango.DevFailed):  # not writable: Tango itself refuses
            proxy.write_attribute(proxy.AttributeName(readonly), 3.0)
        assert setpoint.value == 2.25
        assert settings.value == {"gain": 3, "mode": "slow"}


def test_a_value_that_does_not_fit_is_an_error_then_recovers(redis_server, hold, unique):
    name = f"{unique}.pos"
    position = hold(name, 1.0)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [name]}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        events = Events(proxy, attribute)
        try:
            position.value = "not a number"
            error = events.wait(lambda e: e.err)
            assert "expected a number" in error.errors[0].desc
            with pytest.raises(tango.DevFailed, match="expected a number, got str"):
                proxy.read_attribute(attribute)
            assert proxy.get_attribute_config(attribute).data_type == CmdArgType.DevDouble
            # Status sums up every attribute once the publisher's turn has pushed its events
            wait_for(lambda: "value error" in proxy.status(), what="Status saying it")
            position.value = 4.0
            events.wait(events.value_is(4.0))
        finally:
            events.close()


def test_none_is_invalid_and_no_value_yet_says_why(redis_server, hold, unique):
    nothing, empty = f"{unique}.nothing", f"{unique}.none"
    hold(empty, None)
    wait_held(redis_server, empty)
    lines = [f"{nothing} type=float", f"{empty} type=str"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        read = proxy.read_attribute(proxy.AttributeName(empty))
        assert read.quality == AttrQuality.ATTR_INVALID and read.value is None
        attribute = proxy.AttributeName(nothing)
        with pytest.raises(
            tango.DevFailed,
            match=f"channel {nothing} has no value yet "
            r"\(no process holds a value\)",
        ):
            proxy.read_attribute(attribute)
        events = Events(proxy, attribute)
        try:
            assert events.next().attr_value.quality == AttrQuality.ATTR_INVALID
        finally:
            events.close()
        wait_for(lambda: "1 channels have no value yet" in proxy.status(), what="Status")


def test_a_device_never_answers_a_query_with_a_value_it_made_up(redis_server, bus, unique):
    name = f"{unique}.flag"
    with running_device({"RedisUrl": redis_server.url, "Channels": [f"{name} type=bool"]}):
        wait_held(redis_server, name)
        assert Channel(name, default_value="the holder's default", bus=bus).value == (
            "the holder's default"
        )


def test_clear_cache_resets_every_holder(redis_server, hold, make_peer, unique):
    obj = f"{unique}_musst"
    configured, live = f"{obj}:last__md5", f"{obj}:program"
    other = f"{unique}_other:kept"
    held_configured = hold(configured, "abc")
    held_live = hold(live, "prog")
    hold(other, "x")
    peer = make_peer(redis_server.url)
    peer.call("cache", obj=obj, key="program", default="none")
    peer.call("watch", name=live)
    wait_held(redis_server, configured, live, other)
    lines = [f"{configured} default='\"initial\"'", other]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        assert proxy.ClearCache([obj]) == 2
        # A holder elsewhere: the channel is not configured here, so its default is None.
        peer.wait_event(lambda e: e["value"] is None)
        wait_for(lambda: held_live.held.value is None and held_configured.held.value == "initial")
        assert proxy.read_attribute(proxy.AttributeName(configured)).value == "initial"
        assert proxy.read_attribute(proxy.AttributeName(other)).value == "x"


def test_globs_expose_live_channels_now_and_as_they_appear(redis_server, hold, unique):
    hold(f"{unique}.axis.roby.state", axis_state("READY"))
    wait_held(redis_server, f"{unique}.axis.roby.state")
    lines = [f"{unique}.axis.*.state type=state"]
    properties = {"RedisUrl": redis_server.url, "Channels": lines, "DiscoveryPeriod": 0.2}
    with running_device(properties) as (proxy, _):
        names = Events(proxy, "ChannelNames")
        try:
            assert list(proxy.ChannelNames) == [f"{unique}.axis.roby.state"]
            hold(f"{unique}.axis.robz.state", axis_state("MOVING"))
            names.wait(lambda e: f"{unique}.axis.robz.state" in (e.attr_value.value or ()))
            attribute = proxy.AttributeName(f"{unique}.axis.robz.state")
            wait_for(lambda: proxy.read_attribute(attribute).value == DevState.MOVING)
        finally:
            names.close()


def test_bad_lines_fault_with_a_readable_status_and_the_rest_works(redis_server, hold, unique):
    good = f"{unique}.good"
    hold(good, 1.0)
    wait_held(redis_server, good)
    lines = [good, f"{unique}.bad type=flaot", f"{unique}.worse acces=rw"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        assert proxy.state() == DevState.FAULT
        status = proxy.status()
        assert "line 2: unknown type 'flaot'" in status and f"'{unique}.bad type=flaot'" in status
        assert "line 3: unknown key 'acces'" in status
        assert f"Connected to Redis at {redis_server.url}" in status
        assert proxy.read_attribute(proxy.AttributeName(good)).value == 1.0


def test_names_follow_the_rule_and_translate_both_ways(redis_server, hold, unique):
    base = unique.lower()[:20] + "x"
    channels = {
        f"{base}.pos": f"{base}_pos",
        f"{base}_pos": f"{base}_pos_2",  # collides with the one above, in channel-name order
        f"1{base}": f"ch_1{base}",
        "state": "state_2",  # State is taken
        f"{base}:custom": "MyName",
    }
    for name in channels:
        hold(name, 1.0)
    wait_held(redis_server, *channels)
    lines = [n if n != f"{base}:custom" else f"{n} attr=MyName" for n in channels]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        for channel, attribute in channels.items():
            assert proxy.AttributeName(channel) == attribute
            assert proxy.ChannelName(attribute) == channel
        assert list(proxy.ChannelNames) == sorted(channels)
        with pytest.raises(tango.DevFailed, match="is not exposed"):
            proxy.AttributeName("no.such.channel")


def test_channels_come_and_go_at_run_time(redis_server, hold, unique):
    first, second = f"{unique}.a", f"{unique}.b"
    hold(first, 1.0)
    hold(second, "two")
    wait_held(redis_server, first, second)
    with running_device({"RedisUrl": redis_server.url, "Channels": [first]}) as (proxy, _):
        assert list(proxy.AddChannel(f"{second} label=Second")) == [second]
        attribute = proxy.AttributeName(second)
        assert proxy.read_attribute(attribute).value == "two"
        assert proxy.get_attribute_config(attribute).label == "Second"
        with pytest.raises(tango.DevFailed, match="already exposed"):
            proxy.AddChannel(second)
        with pytest.raises(tango.DevFailed, match="unknown type"):
            proxy.AddChannel(f"{unique}.c type=nope")

        assert list(proxy.RemoveChannel(second)) == [attribute]
        assert list(proxy.ChannelNames) == [first]
        with pytest.raises(tango.DevFailed, match="no longer shows channel"):
            proxy.read_attribute(attribute)
        proxy.AddChannel(second)  # back, with its attribute
        assert proxy.AttributeName(second) == attribute
        assert proxy.read_attribute(attribute).value == "two"


def test_init_rereads_and_keeps_attribute_names(redis_server, hold, unique):
    name = f"{unique}.kept"
    channel = hold(name, 1.0)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [name]}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        proxy.Init()
        assert proxy.AttributeName(name) == attribute
        channel.value = 2.0
        wait_for(lambda: proxy.read_attribute(attribute).value == 2.0)


def test_a_taurus_listener_receives_change_events(redis_server, hold, unique):
    import taurus  # a test dependency: missing, the test fails rather than skips
    from taurus.core import TaurusEventType

    name = f"{unique}.taurus"
    channel = hold(name, 0.0)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [name]}) as (proxy, access):
        host_port = access.split("//")[1].split("/")[0]
        attribute = taurus.Attribute(
            f"tango-nodb://{host_port}/test/beacon/1/{proxy.AttributeName(name)}"
        )
        received: list[float] = []

        def listener(source, kind, value) -> None:
            if kind == TaurusEventType.Change and value is not None:
                received.append(value.rvalue.magnitude)

        attribute.addListener(listener)
        try:
            for value in (1.0, 2.0, 3.0):
                channel.value = value
                time.sleep(0.05)
            wait_for(lambda: received and received[-1] == 3.0, what="Taurus events")
            assert attribute.isUsingEvents() and not attribute.isPollingActive()
        finally:
            attribute.removeListener(listener)


def test_the_server_runs_without_a_database(redis_server, hold, unique):
    """``BeaconChannels <instance> -nodb -dlist <device>``: no properties, channels added live."""
    import os
    import subprocess

    from support.redis_server import free_port
    from support.tango_device import BEACON_CHANNELS

    name = f"{unique}.live"
    hold(name, 12.5)
    wait_held(redis_server, name)
    port = free_port()
    server = subprocess.Popen(
        [
            BEACON_CHANNELS,
            "nodb",
            "-nodb",
            "-dlist",
            "test/nodb/1",
            "-ORBendPoint",
            f"giop:tcp:127.0.0.1:{port}",
        ],
        env={**os.environ, "REDIS_URL": redis_server.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proxy = tango.DeviceProxy(f"tango://127.0.0.1:{port}/test/nodb/1#dbase=no")
        wait_for(lambda: _answers(proxy), timeout=30, what="the server")
        assert proxy.state() == DevState.ON
        assert "0 channels exposed" in proxy.status()
        proxy.AddChannel(name)
        assert proxy.read_attribute(proxy.AttributeName(name)).value == 12.5
    finally:
        server.terminate()
        server.wait(timeout=15)


def _answers(proxy: tango.DeviceProxy) -> bool:
    try:
        proxy.ping()
        return True
    except tango.DevFailed:
        time.sleep(1)  # a proxy waits a second between connection attempts anyway
        return False


def test_redis_is_found_through_beacon(redis_server, hold, unique):
    from support.beacon_stub import BeaconStub

    name = f"{unique}.via_beacon"
    hold(name, "found")
    wait_held(redis_server, name)
    stub = BeaconStub(f"127.0.0.1:{redis_server.port}")
    try:
        properties = {"BeaconHost": f"127.0.0.1:{stub.port}", "Channels": [name]}
        with running_device(properties) as (proxy, _):
            assert proxy.read_attribute(proxy.AttributeName(name)).value == "found"
            assert f"Connected to Redis at redis://127.0.0.1:{redis_server.port}" in (
                proxy.status()
            )
    finally:
        stub.close()


def test_text_written_beyond_latin_1_reaches_holders_as_written(redis_server, hold, unique):
    """A client sends such text as its UTF-8 bytes (the way the device sends it, see
    tango_text); the holders get the text, not those bytes read as Latin-1."""
    name = f"{unique}.comment"
    comment = hold(name, "µm")
    wait_held(redis_server, name)
    lines = [f"{name} type=str access=rw"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        proxy.write_attribute(attribute, "✓ aligned".encode().decode("latin-1"))
        wait_for(lambda: comment.held.value == "✓ aligned", what="the text written")
        assert proxy.read_attribute(attribute).value.encode("latin-1").decode() == "✓ aligned"
        proxy.write_attribute(attribute, "5 µm")  # Latin-1 text goes as it is
        wait_for(lambda: comment.held.value == "5 µm", what="the Latin-1 text written")


def test_clear_cache_of_nothing_resets_every_exposed_cache(redis_server, hold, unique):
    cached, plain = f"{unique}_wago:last_config", f"{unique}.position"
    held_cached = hold(cached, "loaded")
    held_plain = hold(plain, 1.5)
    wait_held(redis_server, cached, plain)
    lines = [f"{cached} default=unloaded", plain]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        assert proxy.ClearCache([]) == 1  # obj:key channels only
        wait_for(lambda: held_cached.held.value == "unloaded", what="the cache cleared")
        assert proxy.read_attribute(proxy.AttributeName(cached)).value == "unloaded"
        assert held_plain.value == 1.5


def test_a_refused_add_channel_leaves_the_device_as_it_was(redis_server, hold, unique):
    first, second = f"{unique}.a", f"{unique}.b"
    hold(first, 1.0)
    hold(second, 2.0)
    wait_held(redis_server, first, second)
    lines = [f"{first} attr=Taken"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        with pytest.raises(tango.DevFailed, match="'Taken' is already taken"):
            proxy.AddChannel(f"{second} attr=Taken")
        assert proxy.state() == DevState.ON, proxy.status()
        assert list(proxy.ChannelNames) == [first]


def test_a_channel_left_without_its_attribute_is_a_fault_until_init(redis_server, hold, unique):
    name = f"{unique}.gain"
    hold(name, 1.0)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [name]}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        proxy.RemoveChannel(name)
        # Its attribute is a DevDouble, for as long as the server runs.
        proxy.AddChannel(f"{name} type=str attr={attribute}")
        assert proxy.state() == DevState.FAULT
        assert f"attribute {attribute} has another type: restart the server" in proxy.status()
        proxy.Init()  # the configuration again: its attribute is back, and the device ON
        assert proxy.state() == DevState.ON, proxy.status()
        assert proxy.read_attribute(attribute).value == 1.0


def test_a_retired_attribute_still_says_why_after_init(redis_server, hold, unique):
    kept, removed = f"{unique}.kept", f"{unique}.removed"
    hold(kept, 1.0)
    hold(removed, 2.0)
    wait_held(redis_server, kept, removed)
    lines = [kept]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        attribute = proxy.AttributeName(proxy.AddChannel(removed)[0])
        proxy.RemoveChannel(removed)
        proxy.Init()
        for _ in range(3):  # every read says it, not only the first
            with pytest.raises(tango.DevFailed, match=f"no longer shows channel {removed}"):
                proxy.read_attribute(attribute)


def test_a_device_started_before_beacon_finds_redis_once_beacon_answers(
    redis_server, hold, unique
):
    from support.beacon_stub import BeaconStub
    from support.redis_server import free_port

    name = f"{unique}.late"
    hold(name, "found")
    wait_held(redis_server, name)
    beacon_port = free_port()
    properties = {"BeaconHost": f"127.0.0.1:{beacon_port}", "Channels": [name]}
    with running_device(properties) as (proxy, _):
        assert proxy.state() == DevState.FAULT
        assert f"Beacon at 127.0.0.1:{beacon_port} unreachable" in proxy.status()
        assert "asking again" in proxy.status()
        stub = BeaconStub(f"127.0.0.1:{redis_server.port}", port=beacon_port)
        try:
            wait_for(
                lambda: proxy.ChannelNames and shows(proxy, proxy.AttributeName(name), "found"),
                what="the value, once Beacon is up",
            )
            assert proxy.state() == DevState.ON, proxy.status()
        finally:
            stub.close()
