"""Tango 10 alarm events, as an alarm handler subscribes to them, next to change events.

cppTango 10.3 breaks the change events of an attribute whose events a device pushes by code
when an ALARM_EVENT client subscribes and the attribute did not declare that it pushes alarm
events itself (``push_change_event`` then fails, and change subscribers receive stale or
garbage values). The device declares them and pushes them: when the quality enters or leaves
ATTR_ALARM or ATTR_WARNING, and on errors; the device State too when it enters or leaves ALARM.
"""

from __future__ import annotations

import time

import tango
from tango import AttrQuality, DevState

from support.redis_server import wait_held
from support.tango_device import Events, running_device
from tango_channels import Channel

ALARM = tango.EventType.ALARM_EVENT


def values(events: Events) -> list:
    return [None if e.err else e.attr_value.value for e in events.seen]


def test_an_alarm_handler_and_a_gui_on_one_attribute_each_get_what_they_expect(
    own_redis, make_bus, unique
):
    name = f"{unique}.pos"
    bus = make_bus(own_redis.url)
    position = Channel(name, value=1.0, bus=bus)
    wait_held(own_redis, name)
    line = f"{name} type=float max_alarm=10 max_warning=8"
    with running_device({"RedisUrl": own_redis.url, "Channels": [line]}) as (proxy, access):
        attribute = proxy.AttributeName(name)
        handler = tango.DeviceProxy(access)  # another client: the alarm handler
        alarms, state_alarms = Events(handler, attribute, ALARM), Events(handler, "State", ALARM)
        changes = Events(proxy, attribute)
        try:
            changes.wait(changes.value_is(1.0))
            alarms.next()  # what it reads when it subscribes: 1.0, VALID
            state_alarms.next()  # ON
            for value in (2.0, 3.0, 12.0, 13.0, 4.0, 5.0):
                position.value = value
                time.sleep(0.02)  # each its own message, as a moving motor sends them
            changes.wait(changes.value_is(5.0))
            # The GUI: every value once, in order, nothing else.
            assert values(changes) == [1.0, 2.0, 3.0, 12.0, 13.0, 4.0, 5.0]
            # The alarm handler: one event each way across max_alarm, none inside a range.
            entered = alarms.next()
            assert (entered.attr_value.value, entered.attr_value.quality) == (
                12.0, AttrQuality.ATTR_ALARM
            )
            left = alarms.next()
            assert (left.attr_value.value, left.attr_value.quality) == (
                4.0, AttrQuality.ATTR_VALID
            )
            assert [e.attr_value.value for e in state_alarms.seen[1:3]] == [
                DevState.ALARM, DevState.ON
            ]
            # An outage: both get an error event saying so.
            own_redis.kill()
            for events in (changes, alarms):
                error = events.wait(lambda e: e.err)
                assert "unreachable since" in error.errors[0].desc
            own_redis.start()
            changes.wait(changes.value_is(5.0), timeout=20)
            assert alarms.wait(lambda e: not e.err).attr_value.quality == AttrQuality.ATTR_VALID
            assert len(alarms.seen) == 5  # subscription, 12, 4, the outage, back
        finally:
            for events in (changes, alarms, state_alarms):
                events.close()
