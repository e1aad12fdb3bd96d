"""A Tango 9 client (PyTango 9.5.1, cppTango 9.5) reads the device and follows its events.

Many facilities still run Tango 9 panels, archivers and scripts against Tango 10 servers.
The client is ``tests/support/tango_client.py`` run by the python of a PyTango 9.5.1 venv
(built on first use in ``~/.cache/tango-channels/``; skipped if it can't be, required in CI
as the BLISS peer is). The device runs as an operator starts it, and this process holds the
channels, as a BLISS session would. docs/compatibility.md gives the result.
"""

from __future__ import annotations

import queue

import pytest

from support import wait_for
from support.access_control import Refused, TangoClient
from support.redis_server import wait_held
from support.tango_device import running_device, write_probe
from tango_channels import Channel
from tango_channels_device.bridge.axes import axis_state


@pytest.fixture
def tango9_client(tango9_python):
    """A Tango 9 client of a running device: ``make(access)``, closed at the test's end."""
    clients: list[TangoClient] = []

    def make(access: str) -> TangoClient:
        client = TangoClient(access, env={}, python=tango9_python)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.process.kill()
        client.process.wait()


def next_event(client: TangoClient, timeout: float = 10) -> dict:
    try:
        return client.events.get(timeout=timeout)["event"]
    except queue.Empty:
        raise AssertionError(f"no event within {timeout} s") from None


def test_a_tango_9_client_reads_every_kind_of_attribute(
    redis_server, bus, unique, tango9_client
):
    held = [
        Channel(f"{unique}.position", value=12.5, bus=bus),
        Channel(f"{unique}.shutter", value="open", bus=bus),
        Channel(f"{unique}.state", value=axis_state("READY"), bus=bus),
        Channel(f"{unique}.counts", value=[1, 2, 3], bus=bus),
    ]
    wait_held(redis_server, *(c.name for c in held))
    lines = [
        f"{unique}.position type=float unit=mm",
        f"{unique}.shutter type=str",
        f"{unique}.state type=state",
        f"{unique}.counts type=spectrum:int64",
        f"{unique}.nobody type=float",
    ]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, access):
        client = tango9_client(access)
        assert client.call("version")["pytango"] == "9.5.1"
        assert client.call("state") == "ON"
        name = {line.split()[0]: proxy.AttributeName(line.split()[0]) for line in lines}
        position = client.call("reading", attr=name[f"{unique}.position"])
        assert position["value"] == 12.5 and position["quality"] == "ATTR_VALID"
        assert client.call("read", attr=name[f"{unique}.shutter"]) == "open"
        assert client.call("read", attr=name[f"{unique}.state"]) == "ON"
        assert client.call("read", attr=name[f"{unique}.counts"]) == [1, 2, 3]
        assert isinstance(client.call("read", attr="ValuesReceived"), int)  # DevLong64
        assert client.call("command", name="ChannelName", arg=name[f"{unique}.position"]) == (
            f"{unique}.position"
        )
        # The device's own error reasons reach a Tango 9 client as they are.
        with pytest.raises(Refused) as refused:
            client.call("read", attr=name[f"{unique}.nobody"])
        assert refused.value.reason == "BeaconChannels_NoValue"
        assert f"channel {unique}.nobody has no value yet" in refused.value.desc


def test_a_tango_9_client_gets_change_and_archive_events_in_order_and_writes(
    redis_server, bus, unique, tango9_client
):
    position = Channel(f"{unique}.position", value=0.0, bus=bus)
    target = Channel(f"{unique}.target", value=0.0, bus=bus)
    wait_held(redis_server, position.name, target.name)
    lines = [f"{unique}.position type=float", f"{unique}.target type=float access=rw"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, access):
        attribute = proxy.AttributeName(position.name)
        client = tango9_client(access)
        client.call("subscribe", attr=attribute, type="change")
        first = next_event(client)
        assert first["type"] == "change" and first["value"] == 0.0
        client.call("subscribe", attr=attribute, type="archive")
        assert next_event(client)["type"] == "archive"
        client.until_events_flow(write_probe(proxy))

        sent = [float(i) for i in range(1, 21)]
        for value in sent:
            position.value = value
        changes, archives = [], []
        while len(changes) < len(sent) or len(archives) < len(sent):
            event = next_event(client)
            assert event["error"] is None, event
            (changes if event["type"] == "change" else archives).append(event)
        # Every value once, in order, with BLISS's source time, on both kinds of events.
        assert [e["value"] for e in changes] == sent
        assert [e["value"] for e in archives] == sent
        stamps = [e["time"] for e in changes]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert all(e["quality"] == "ATTR_VALID" for e in changes)

        # A write from the Tango 9 client is published on the channel, for BLISS.
        client.call("write", attr=proxy.AttributeName(target.name), value=2.5)
        wait_for(lambda: target.value == 2.5, what="the value written by the Tango 9 client")
