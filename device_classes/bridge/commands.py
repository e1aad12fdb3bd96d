"""The device's commands, without Tango: what each does to BLISS and to what is exposed.

Each runs in the caller's thread (an omniORB thread) for one device (its
:class:`~tango_channels_device.bridge.devices.DeviceBridge`): the I/O it needs (publishing on
Redis, listing live channels) is done here, on the bus of the device's Redis, and what it
changes of what the device exposes is asked of the publisher
(:meth:`~tango_channels_device.bridge.publisher.Publisher.call`), which owns it. Each returns
what it did, for the command's answer and the audit log, or raises: ``ConnectionError`` (Redis
unreachable), :class:`~tango_channels_device.bridge.lines.LineError` (a bad line),
``KeyError`` (nothing by that name), ``TimeoutError`` (the device stayed busy).
"""

from __future__ import annotations

import time
from typing import Any

from tango_channels.bus import Bus

from .attribute import AttributeRecord
from .axes import move_stop_channel
from .devices import ChannelsBridge, DeviceBridge
from .lifecycle import Phase
from .lines import LineError, parse_line
from .publisher import Publisher

__all__ = ["add_line", "clear_cache", "remove", "stop_axes", "stop_axis", "write"]

#: Seconds a command waits for the publisher to show what it did (a client reading right after
#: sees it), and for the first values of channels it opened (their types).
SHOWN_WAIT = 1.0
ADD_WAIT = 2.0


def clear_cache(
    bus: Bus, publisher: Publisher, device: ChannelsBridge, objects: list[str]
) -> list[str]:
    """BLISS's ``clear_cache`` across processes: every ``<object>:*`` channel (exposed, or
    live on the server) gets its configured ``default`` (None if none), for every holder. No
    objects: every exposed ``object:key`` channel. The defaults are published, not held here:
    once the last BLISS holder goes, they are gone. Returns the channels reset, once they
    show their new values (or after ``SHOWN_WAIT``)."""
    _connected(bus)
    exposed = publisher.call(
        lambda: sorted({r.channel for r in device.records.values() if r.phase is Phase.SHOWN})
    )
    if objects:
        names: set[str] = set()
        for obj in objects:
            names.update(bus.live_channels(_escape_glob(obj) + ":*"))
            names.update(n for n in exposed if n.startswith(obj + ":"))
    else:
        names = {n for n in exposed if ":" in n}
    cleared = sorted(names)
    defaults = publisher.call(lambda: [device.catalogue.default_for(n) for n in cleared])
    started = time.time()
    for name, default in zip(cleared, defaults, strict=True):
        bus.publish(name, default)
    publisher.wait_shown(_records(publisher, device, cleared), started, SHOWN_WAIT)
    return cleared


def stop_axes(bus: Bus, publisher: Publisher, device: ChannelsBridge, axes: list[str]) -> list[str]:
    """Ask BLISS to stop the moves of ``axes`` (every exposed axis that is MOVING if none):
    ``axis.<n>.move_stop`` set True, as ``Axis.stop`` does for a move started by another
    process. Published, not held. Returns the axes asked."""
    _connected(bus)
    if not axes:
        axes = publisher.call(
            lambda: [a for a in device.catalogue.axes() if publisher.moving(device, a)]
        )
    for axis in axes:
        bus.publish(move_stop_channel(axis), True)
    return axes


def add_line(bus: Bus, publisher: Publisher, device: ChannelsBridge, line: str) -> list[str]:
    """Expose one more ``Channels`` line; the channels it exposes (that were not exposed
    before), once their attributes show their first answers: a value, or nobody holding one
    (or after ``ADD_WAIT``): a client reading right after sees them."""
    spec = parse_line(line)
    if spec is None:
        raise LineError("empty line")
    live = bus.live_channels(spec.pattern) if spec.is_glob and bus.connected else []
    opened = publisher.call(lambda: publisher.add(device, line, live))
    publisher.wait_settled(device, ADD_WAIT, opened)
    return opened


def remove(publisher: Publisher, device: ChannelsBridge, name: str, why: str) -> list[str]:
    """Stop exposing a channel, a glob line's channels or an axis: the attributes retired."""
    return publisher.call(lambda: publisher.remove(device, name, why))


def stop_axis(bus: Bus, axis: str) -> None:
    """Ask BLISS to stop axis ``axis`` (a BeaconAxis device's ``Stop`` and ``Abort``)."""
    _connected(bus)
    bus.publish(move_stop_channel(axis), True)


def write(
    bus: Bus,
    publisher: Publisher,
    device: DeviceBridge,
    record: AttributeRecord,
    client_value: Any,
) -> None:
    """Publish a value a client wrote (held here as a BLISS process holds what it set), once
    the publisher shows it (or after ``SHOWN_WAIT``). Raises ``PermissionError``,
    :class:`~tango_channels_device.bridge.kinds.Mismatch` or ``ConnectionError`` saying why
    not."""
    if not record.writable or record.kind is None:
        raise PermissionError(f"{record.channel} is read-only (its line has no access=rw)")
    value = record.kind.from_client(client_value)
    _connected(bus)
    channel = publisher.call(lambda: publisher.channel(device, record.channel))
    if channel is None:
        raise KeyError(f"channel {record.channel} is no longer exposed")
    channel.value = value
    held = channel.standing().held
    if held is not None:
        publisher.wait_shown([record], held.timestamp, SHOWN_WAIT)


def _records(
    publisher: Publisher, device: DeviceBridge, channels: list[str]
) -> list[AttributeRecord]:
    wanted = set(channels)
    return publisher.call(
        lambda: [
            r for r in device.records.values() if r.channel in wanted and r.phase is Phase.SHOWN
        ]
    )


def _connected(bus: Bus) -> None:
    if not bus.connected:
        raise ConnectionError(bus.describe_state())


def _escape_glob(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
