"""Tango operations as operators expect them: event criteria wherever they are set, periodic
archive events, alarm limits reaching State, timestamps an archiver can store, logs reaching
Tango's logging, the bridge's own counters and version.

Real servers, real subscriptions: the holders are channels of this process, the device a
server process, the client a DeviceProxy subscribing to its events.
"""

from __future__ import annotations

import itertools
import os
import time

import pytest
import tango
from tango import AttrQuality, DevState

from support import wait_for
from support.redis_server import wait_held
from support.tango_device import Events, running_device
from tango_channels import Channel

STEPS = [1.0, 1.1, 1.2, 1.3, 2.0, 2.1]  # with abs_change=0.5: 1.0 and 2.0 make events


@pytest.fixture
def hold(bus):
    held: list[Channel] = []

    def make(name: str, value):
        held.append(Channel(name, value=value, bus=bus))
        return held[-1]

    return make


def values_of(events: Events, until: float, timeout: float = 10) -> list:
    """The values of the change events that came, up to the one equal to ``until``."""
    seen = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != until:
        event = events.next(max(0.0, deadline - time.monotonic()))
        if not event.err:
            seen.append(event.attr_value.value)
    return seen


def step_through(channel: Channel, values: list[float]) -> None:
    for value in values:
        channel.value = value
        time.sleep(0.02)  # each its own message, as a moving motor sends them


# ------------------------------------------------------------------ event criteria
@pytest.mark.parametrize("where", ["line", "database", "client"])
def test_change_criteria_are_honoured_wherever_they_are_set(
    redis_server, hold, unique, where
):
    name = f"{unique}.pos"
    position = hold(name, 0.0)
    wait_held(redis_server, name)
    line = f"{name} type=float" + (" abs_change=0.5" if where == "line" else "")
    database = {"ch": {"abs_change": "0.5"}} if where == "database" else None
    properties = {"RedisUrl": redis_server.url, "Channels": [line]}
    attribute = f"{unique}_pos"
    attribute_properties = {attribute: database["ch"]} if database else None
    with running_device(properties, attribute_properties=attribute_properties) as (proxy, _):
        assert proxy.AttributeName(name) == attribute
        if where == "client":  # as Jive does, before subscribing (as HDB++'s manager does)
            config = proxy.get_attribute_config_ex(attribute)[0]
            config.events.ch_event.abs_change = "0.5"
            proxy.set_attribute_config(config)
        events = Events(proxy, attribute)  # a new subscriber: the device reads them again
        try:
            assert events.next().attr_value.value == 0.0  # the value at subscription
            step_through(position, STEPS)
            assert values_of(events, until=2.0) == [1.0, 2.0]
            step_through(position, [2.1, 2.2, 0.0])
            assert values_of(events, until=0.0) == [0.0]
        finally:
            events.close()
        assert proxy.read_attribute(attribute).value == 0.0  # reads give every value


def test_a_line_s_criteria_give_way_to_the_database_s(redis_server, hold, unique):
    name = f"{unique}.pos"
    position = hold(name, 0.0)
    wait_held(redis_server, name)
    properties = {"RedisUrl": redis_server.url, "Channels": [f"{name} type=float abs_change=5"]}
    attribute_properties = {f"{unique}_pos": {"abs_change": "0.5"}}
    with running_device(properties, attribute_properties=attribute_properties) as (proxy, _):
        events = Events(proxy, f"{unique}_pos")
        try:
            events.next()
            step_through(position, STEPS)
            assert values_of(events, until=2.0) == [1.0, 2.0]
        finally:
            events.close()


def test_without_criteria_every_number_is_an_event_and_text_one_when_it_changes(
    redis_server, hold, unique
):
    name, text = f"{unique}.pos", f"{unique}.mode"
    position, mode = hold(name, 0.0), hold(text, "slow")
    wait_held(redis_server, name, text)
    lines = [f"{name} type=float", f"{text} type=str"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        events, texts = Events(proxy, f"{unique}_pos"), Events(proxy, f"{unique}_mode")
        try:
            events.next(), texts.next()
            step_through(position, [*STEPS, 2.1, 3.0])
            assert values_of(events, until=3.0) == [*STEPS, 2.1, 3.0]  # equal ones too
            for value in ("slow", "fast", "fast", "slow"):
                mode.value = value
                time.sleep(0.02)
            assert values_of(texts, until="slow") == ["fast", "slow"]
        finally:
            events.close()
            texts.close()


def test_archive_criteria_and_period_make_the_archive_events(redis_server, hold, unique):
    """The HDB++ recipe: archive_abs_change for the moves, archive_period so that a motor at
    rest still has an archive event at least that often."""
    name = f"{unique}.pos"
    position = hold(name, 0.0)
    wait_held(redis_server, name)
    line = f"{name} type=float archive_abs_change=0.5 archive_period=500"
    with running_device({"RedisUrl": redis_server.url, "Channels": [line]}) as (proxy, _):
        archive = Events(proxy, f"{unique}_pos", tango.EventType.ARCHIVE_EVENT)
        try:
            step_through(position, STEPS)
            seen = values_of(archive, until=2.0)  # from the one at subscription on
            assert 1.0 in seen and not {1.1, 1.2, 1.3} & set(seen)  # a period may come too
            at_rest = [archive.next(5) for _ in range(3)]  # nothing changes: the period
            assert [e.attr_value.value for e in at_rest] == [2.1, 2.1, 2.1]  # the held value
            times = [e.attr_value.time.totime() for e in at_rest]
            assert times == sorted(times) and len(set(times)) == 3
            assert times[-1] > position.held.timestamp  # the current time, not the value's
        finally:
            archive.close()


# ------------------------------------------------------------------ alarms and limits
def test_alarm_limits_give_the_quality_and_the_state_and_go_away(redis_server, hold, unique):
    name = f"{unique}.pos"
    position = hold(name, 5.0)
    wait_held(redis_server, name)
    line = f"{name} type=float max_alarm=10 max_warning=8 min_alarm=-10"
    attribute = f"{unique}_pos"
    with running_device({"RedisUrl": redis_server.url, "Channels": [line]}) as (proxy, _):
        states, values = Events(proxy, "State"), Events(proxy, attribute)
        try:
            assert proxy.state() == DevState.ON
            position.value = 12.3
            event = values.wait(values.value_is(12.3))
            assert event.attr_value.quality == AttrQuality.ATTR_ALARM
            states.wait(lambda e: not e.err and e.attr_value.value == DevState.ALARM)
            assert f"Alarm: {attribute} = 12.3 is above max_alarm 10." in proxy.status()
            assert proxy.read_attribute(attribute).quality == AttrQuality.ATTR_ALARM
            position.value = 8.5
            event = values.wait(values.value_is(8.5))
            assert event.attr_value.quality == AttrQuality.ATTR_WARNING
            warning = f"Warning: {attribute} = 8.5 is above max_warning 8."
            wait_for(lambda: warning in proxy.status())
            assert proxy.state() == DevState.ALARM
            position.value = 5.0
            assert values.wait(values.value_is(5.0)).attr_value.quality == AttrQuality.ATTR_VALID
            states.wait(lambda e: not e.err and e.attr_value.value == DevState.ON)
            assert "Alarm" not in proxy.status() and "Warning" not in proxy.status()
        finally:
            states.close()
            values.close()


def test_a_write_outside_the_value_limits_is_refused_as_tango_refuses_it(
    redis_server, hold, unique
):
    name = f"{unique}:setpoint"
    setpoint = hold(name, 1.0)
    wait_held(redis_server, name)
    line = f"{name} type=float access=rw min_value=0 max_value=20"
    with running_device({"RedisUrl": redis_server.url, "Channels": [line]}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        with pytest.raises(tango.DevFailed) as refused:
            proxy.write_attribute(attribute, 25.0)
        assert refused.value.args[0].reason == "API_WAttrOutsideLimit"
        proxy.write_attribute(attribute, 15.0)
        wait_for(lambda: setpoint.value == 15.0)


# ------------------------------------------------------------------ timestamps
def test_every_event_is_later_than_the_one_before_across_a_redis_restart(
    own_redis, make_bus, unique
):
    """HDB++ keys its tables on attribute and time: a restart's error event (Redis
    unreachable), the recovery, errors all carry the current time, later than the value they
    follow."""
    name = f"{unique}.pos"
    bus = make_bus(own_redis.url)
    position = Channel(name, value=1.0, bus=bus)
    wait_held(own_redis, name)
    with running_device({"RedisUrl": own_redis.url, "Channels": [f"{name} type=float"]}) as (
        proxy,
        _,
    ):
        attribute = proxy.AttributeName(name)
        events = Events(proxy, attribute)
        try:
            events.next()
            position.value = 2.0
            events.wait(events.value_is(2.0))
            own_redis.restart()
            events.wait(lambda e: e.err and "unreachable since" in e.errors[0].desc)
            outage_seen = time.time()
            events.wait(lambda e: not e.err and e.attr_value.quality == AttrQuality.ATTR_VALID)
            position.value = "not a number"  # an error event
            events.wait(lambda e: e.err)
            position.value = 3.0
            events.wait(events.value_is(3.0))
        finally:
            events.close()
        stamps = [e.attr_value.time.totime() for e in events.seen if not e.err]
        assert len(stamps) >= 4 and all(a < b for a, b in itertools.pairwise(stamps))
        assert stamps[2] >= outage_seen - 1.0  # the recovery happens after the outage


def test_init_during_a_stream_repeats_nothing_and_keeps_time_going_forward(
    redis_server, hold, unique
):
    """An operator runs Init while a motor moves: HDB++ and a GUI get no value twice, none
    out of order, and no timestamp twice (values set while the device re-subscribes are
    not seen; the latest is shown once it is back)."""
    name = f"{unique}.pos"
    position = hold(name, 0.0)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [f"{name} type=float"]}) as (
        proxy,
        _,
    ):
        events = Events(proxy, proxy.AttributeName(name))
        try:
            events.wait(events.value_is(0.0))
            for value in range(1, 301):
                if value == 150:
                    proxy.Init()
                position.value = float(value)
                time.sleep(0.005)  # a motor's positions, each its own message
            events.wait(events.value_is(300.0), timeout=20)
        finally:
            events.close()
        seen = [e for e in events.seen if not e.err]
        values = [e.attr_value.value for e in seen]
        stamps = [e.attr_value.time.totime() for e in seen]
        assert values == sorted(set(values)) and values[-1] == 300.0
        assert all(a < b for a, b in itertools.pairwise(stamps))
        assert proxy.read_attribute("CommandsRun").value == 1  # the Init


# ------------------------------------------------------------------ logs, counters, version
def test_who_changed_what_is_logged_once_to_a_tango_file_logging_target(
    redis_server, hold, unique, tmp_path
):
    """The audit trail, as Astor or LogViewer set it up: every command or write that changes
    what BLISS sees, once, at INFO, with the client's host and process, and what it did (or
    why it was refused); CommandsRun counts them for HDB++."""
    target = tmp_path / "device.log"
    cache, axis = f"{unique}_obj:initialized", f"{unique[-20:]}ax"
    hold(cache, 1)
    wait_held(redis_server, cache)
    lines = [f"{cache} default=0", f"{unique}.target type=float access=rw"]
    properties = {"RedisUrl": redis_server.url, "Channels": lines, "Axes": [axis]}
    with running_device(properties) as (proxy, _):
        admin = tango.DeviceProxy(proxy.adm_name())  # as Astor and LogViewer do
        admin.AddLoggingTarget([proxy.dev_name(), f"file::{target}"])
        admin.SetLoggingLevel([[4], [proxy.dev_name()]])  # INFO
        me = f"from host localhost pid {os.getpid()}"
        proxy.ClearCache([f"{unique}_obj"])
        proxy.write_attribute(proxy.AttributeName(f"{unique}.target"), 2.5)
        proxy.StopAxes([axis])
        with pytest.raises(tango.DevFailed):
            proxy.AddChannel(f"{unique}.bad type=flaot")
        proxy.RemoveChannel(f"{unique}.target")
        proxy.Init()
        expected = [
            f"ClearCache(['{unique}_obj']) {me}: 1 channels reset to their defaults ({cache})",
            f"= 2.5 {me}: published on channel {unique}.target",
            f"StopAxes(['{axis}']) {me}: asked {axis} to stop",
            f"AddChannel('{unique}.bad type=flaot') {me} refused: ",
            f"RemoveChannel('{unique}.target') {me}: 1 attributes retired",
            f"Init {me}: 2 Channels lines, 1 Axes lines read again",
        ]
        wait_for(lambda: target.exists() and expected[-1] in target.read_text())
        logged = target.read_text()
        for line in expected:
            assert logged.count(line) == 1, (line, logged)
        assert proxy.read_attribute("CommandsRun").value == 5  # the refused one not counted
        config = proxy.get_attribute_config("CommandsRun")
        assert config.disp_level == tango.DispLevel.EXPERT  # for experts, not operators


def test_logging_level_and_v4_show_debug_lines(redis_server, hold, unique, tmp_path):
    name = f"{unique}.x"
    hold(name, 1.0)
    wait_held(redis_server, name)
    target = tmp_path / "debug.log"
    properties = {
        "RedisUrl": redis_server.url,
        "Channels": [name],
        "logging_level": "DEBUG",
        "logging_target": f"file::{target}",
    }
    with running_device(properties):
        wait_for(lambda: target.exists() and "attributes of 1 channels made" in target.read_text())
    properties = {"RedisUrl": redis_server.url, "Channels": [name]}
    with running_device(properties, options=("-v4",)) as device:
        wait_for(lambda: "attributes of 1 channels made" in device.log.read_text())


def test_counters_and_version(redis_server, hold, unique):
    name = f"{unique}.pos"
    position = hold(name, 0.0)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [f"{name} type=float"]}) as (
        proxy,
        _,
    ):
        counters = ["ValuesReceived", "EventsPushed", "ValuesCoalesced", "UndecodableMessages"]
        for counter in counters:
            assert proxy.get_attribute_config(counter).data_type == tango.CmdArgType.DevLong64
        received = Events(proxy, "ValuesReceived")
        archived = Events(proxy, "ValuesReceived", tango.EventType.ARCHIVE_EVENT)  # HDB++
        listener = Events(proxy, proxy.AttributeName(name))  # events are pushed to listeners
        try:
            before = received.next().attr_value.value
            step_through(position, [1.0, 2.0, 3.0])
            received.wait(lambda e: not e.err and e.attr_value.value >= before + 3)
            archived.wait(lambda e: not e.err and e.attr_value.value >= before + 3)
            listener.wait(listener.value_is(3.0))
        finally:
            received.close()
            archived.close()
            listener.close()
        assert proxy.EventsPushed >= 3
        import redis

        raw = redis.Redis.from_url(redis_server.url)
        raw.publish(name, b"\x80\x04garbage")
        raw.close()
        wait_for(lambda: proxy.UndecodableMessages == 1)
        from importlib.metadata import version

        from tango_channels_device.build_info import version_info

        shown = proxy.info().version_info["tango-channels"]
        assert shown == version_info() and shown.startswith(version("tango-channels"))
