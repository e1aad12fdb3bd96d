"""The device's commands without Tango: what they do to BLISS and to what the device shows.

A publisher (Tango replaced by a recording sink) on a real Redis, and BLISS-like holders in
this process on buses of their own; each command is called as the device calls it.
"""

from __future__ import annotations

import threading

import pytest

from support import wait_for
from support.redis_server import wait_held
from tango_channels import Channel
from tango_channels_device.bridge import commands
from tango_channels_device.bridge.axes import axis_state
from tango_channels_device.bridge.lines import LineError


def test_clear_cache_gives_every_holder_the_default_and_shows_it(
    redis_server, make_bus, bridges, unique
):
    session = make_bus(redis_server.url)  # a BLISS session holding two caches of one object
    initialized = Channel(f"{unique}_obj:initialized", value=1, bus=session)
    other = Channel(f"{unique}_obj:other", value="x", bus=session)
    device, sink = bridges.channels([f"{unique}_obj:initialized type=int default=0"])
    bus, publisher = bridges.buses[0], bridges.publisher
    cleared = commands.clear_cache(bus, publisher, device, [f"{unique}_obj"])
    assert cleared == [f"{unique}_obj:initialized", f"{unique}_obj:other"]  # live ones too
    assert sink.values(f"{unique}_obj_initialized")[-1] == 0  # shown when it returns
    wait_for(lambda: initialized.value == 0, what="the line's default, in the session")
    wait_for(lambda: other.value is None, what="None, for a channel with no line")


def test_stop_axes_asks_the_moving_axes_to_stop_as_blis_does(
    redis_server, make_bus, bridges, unique
):
    axis, resting = f"{unique[-20:]}ax", f"{unique[-20:]}rest"
    session = make_bus(redis_server.url)
    held = [  # referenced: a channel nobody references is closed, as in BLISS
        Channel(f"axis.{axis}.state", value=axis_state("MOVING"), bus=session),
        Channel(f"axis.{resting}.state", value=axis_state("READY"), bus=session),
    ]
    asked = threading.Event()
    stop = Channel(f"axis.{axis}.move_stop", default_value=False, bus=session)
    stop.register_callback(on_stop := lambda value: value and asked.set())
    device, _ = bridges.channels([], [axis, resting])
    bus, publisher = bridges.buses[0], bridges.publisher
    assert commands.stop_axes(bus, publisher, device, []) == [axis]  # the moving one
    assert asked.wait(5) and on_stop and held


def test_adding_a_glob_line_follows_what_it_matches_now_and_a_bad_line_changes_nothing(
    redis_server, make_bus, bridges, unique
):
    session = make_bus(redis_server.url)
    held = [Channel(f"{unique}.g{i}", value=float(i), bus=session) for i in range(2)]
    wait_held(redis_server, *(c.name for c in held))  # live on the server: a glob finds them
    device, sink = bridges.channels([])
    bus, publisher = bridges.buses[0], bridges.publisher
    opened = commands.add_line(bus, publisher, device, f"{unique}.g* type=float")
    assert opened == [c.name for c in held]
    assert sink.values(f"{unique}_g1") == [1.0]  # shown when it returns: a read sees it
    with pytest.raises(LineError, match="unknown type"):
        commands.add_line(bus, publisher, device, f"{unique}.h type=flaot")
    with pytest.raises(KeyError):
        commands.remove(publisher, device, f"{unique}.nothing", "test")
    assert device.names == [c.name for c in held]
