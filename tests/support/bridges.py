"""Devices without Tango: the server's publisher in this process, serving bridges whose Tango
half is a :class:`~support.fake_sink.FakeSink`, on a real Redis.

What a BeaconChannels or BeaconAxis device does between Redis and Tango, Init and the commands
included, is tested here in-process; whole servers are kept for what only they show.
"""

from __future__ import annotations

from collections.abc import Callable

from support.fake_sink import FakeSink
from tango_channels import Bus
from tango_channels.transport.address import RedisAddress
from tango_channels_device.bridge.devices import AxisBridge, ChannelsBridge, DeviceBridge
from tango_channels_device.bridge.publisher import Publisher

RESERVED = ["State", "Status", "ChannelNames"]


class Bridges:
    """One server's publisher, and the devices it serves (see the module docstring).
    ``make_bus(url, **kwargs)`` makes the buses (the tests' fixture closes them)."""

    def __init__(self, redis_url: str, make_bus: Callable[..., Bus], survey: bool = True) -> None:
        self.address = RedisAddress.from_url(redis_url)
        self.buses: list[Bus] = []

        def bus(address: RedisAddress, trusted: tuple[str, ...]) -> Bus:
            made = make_bus(address, trusted_modules=trusted)
            self.buses.append(made)
            return made

        self.publisher = Publisher(bus, survey=survey)
        self.publisher.start()

    def channels(
        self,
        lines: list[str],
        axes: list[str] | tuple[str, ...] = (),
        sink: FakeSink | None = None,
        name: str = "test/beacon/1",
        discovery_period: float = 0.2,
        settle: float = 10.0,
    ) -> tuple[ChannelsBridge, FakeSink]:
        """A BeaconChannels device's bridge, started as the device starts it (``settle``:
        seconds to wait for its attributes' first answers, 0: none)."""
        sink = sink or FakeSink()
        bridge = ChannelsBridge(name, sink, self.address, "from the test", reserved=RESERVED)
        bridge.discovery_period = bridge.settings_period = discovery_period
        publisher = self.publisher
        publisher.call(lambda: publisher.configure(bridge, lines, list(axes), "test"))
        self.attach(bridge, settle)
        return bridge, sink

    def axis(self, axis: str, sink: FakeSink | None = None) -> tuple[AxisBridge, FakeSink]:
        """A BeaconAxis device's bridge."""
        sink = sink or FakeSink()
        bridge = AxisBridge(f"test/bliss/{axis}", sink, self.address, "from the test", axis)
        self.attach(bridge)
        return bridge, sink

    def attach(self, bridge: DeviceBridge, settle: float = 10.0) -> None:
        publisher = self.publisher
        publisher.call(lambda: publisher.attach(bridge), timeout=max(settle, 5.0))
        if settle:
            assert publisher.wait_settled(bridge, settle)

    def init(self, bridge: ChannelsBridge, lines: list[str], axes: list[str] = ()) -> None:
        """What Init does: the lines again."""
        publisher = self.publisher
        publisher.call(lambda: publisher.configure(bridge, lines, list(axes), "Init"))
        assert publisher.wait_settled(bridge, 10)

    def stop(self) -> None:
        self.publisher.stop()
