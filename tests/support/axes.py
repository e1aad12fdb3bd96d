"""BLISS axes as the tests' BLISS peers publish them, and what the tests ask of the device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tango
from tango import AttrQuality, DevState

from support.redis_server import RedisServer

READY = {"__axisstate__": ["READY"]}
AXIS = {  # what a freshly initialised BLISS axis publishes and persists
    "sign": 1,
    "offset": 0.0,
    "backlash": 0.0,
    "low_limit": -100.0,
    "high_limit": 100.0,
    "velocity_high_limit": None,
    "velocity_low_limit": None,
    "velocity": 100.0,
    "jog_velocity": 10.0,
    "acceleration": 500.0,
    "steps_per_unit": 1000.0,
    "dial_position": 0.0,
    "_set_position": 0.0,
    "position": 0.0,
    "state": READY,
}
QUICK = {"DiscoveryPeriod": 0.5, "SettingsPeriod": 0.5}


def axis_name(unique: str, suffix: str = "") -> str:
    return unique.replace(".", "_")[-30:] + suffix


def state_is(state: DevState) -> Callable[[tango.EventData], bool]:
    return lambda e: not e.err and e.attr_value.value == state


def quality_is(quality: AttrQuality) -> Callable[[tango.EventData], bool]:
    return lambda e: not e.err and e.attr_value.quality == quality


def set_state(session: Any, axis: str, *names: str) -> None:
    session.call("axis_set", name=axis, values={"state": {"__axisstate__": list(names)}})


def device_connections(server: RedisServer) -> int:
    """Connections the server has open on ``server`` (it names them BeaconChannels:<server>)."""
    clients = server.command("CLIENT", "LIST").decode().splitlines()
    return sum("name=BeaconChannels:" in client for client in clients)
