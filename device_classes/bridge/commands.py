"""The device's commands, without Tango: what each does to BLISS and to what is exposed.

Each runs in the caller's thread (an omniORB thread): the I/O it needs (publishing on Redis,
listing live channels) is done here, and what it changes of what the device exposes is asked
of the publisher (:meth:`~tango_channels_device.bridge.publisher.Publisher.call`), which owns
it. Each returns what it did, for the command's answer and the audit log, or raises:
``ConnectionError`` (Redis unreachable), :class:`~tango_channels_device.bridge.lines.LineError`
(a bad line), ``KeyError`` (nothing by that name), ``TimeoutError`` (the device stayed busy).
"""

from __future__ import annotations

import time
from typing import Any

from tango_channels.bus import Bus

from .attribute import AttributeRecord
from .axes import axis_state_names, is_axis_state, move_stop_channel
from .lines import LineError, parse_line
from .publisher import Publisher

__all__ = ["add_line", "clear_cache", "remove", "stop_axes", "write"]

#: Seconds a command waits for the publisher to show what it did (a client reading right after
#: sees it), and for the first values of channels it opened (their types).
SHOWN_WAIT = 1.0
ADD_WAIT = 2.0


def clear_cache(bus: Bus, publisher: Publisher, objects: list[str]) -> list[str]:
    """BLISS's ``clear_cache`` across processes: every ``<object>:*`` channel (exposed, or
    live on the server) gets its configured ``default`` (None if none), for every holder. No
    objects: every exposed ``object:key`` channel. The defaults are published, not held here:
    once the last BLISS holder goes, they are gone. Returns the channels reset, once they
    show their new values (or after ``SHOWN_WAIT``)."""
    _connected(bus)
    exposed = publisher.call(lambda: [f.name for f in publisher.catalogue.feeds()])
    if objects:
        names: set[str] = set()
        for obj in objects:
            names.update(bus.live_channels(_escape_glob(obj) + ":*"))
            names.update(n for n in exposed if n.startswith(obj + ":"))
    else:
        names = {n for n in exposed if ":" in n}
    cleared = sorted(names)
    defaults = publisher.call(lambda: [publisher.catalogue.default_for(n) for n in cleared])
    started = time.time()
    for name, default in zip(cleared, defaults, strict=True):
        bus.publish(name, default)
    publisher.wait_shown(_records(publisher, cleared), started, SHOWN_WAIT)
    return cleared


def stop_axes(bus: Bus, publisher: Publisher, axes: list[str]) -> list[str]:
    """Ask BLISS to stop the moves of ``axes`` (every exposed axis that is MOVING if none):
    ``axis.<n>.move_stop`` set True, as ``Axis.stop`` does for a move started by another
    process. Published, not held. Returns the axes asked."""
    _connected(bus)
    if not axes:
        axes = publisher.call(
            lambda: [a for a in publisher.catalogue.axes() if _moving(publisher, a)]
        )
    for axis in axes:
        bus.publish(move_stop_channel(axis), True)
    return axes


def add_line(bus: Bus, publisher: Publisher, line: str) -> list[str]:
    """Expose one more ``Channels`` line; the channels it opened, once they have their
    first values and attributes (or after ``ADD_WAIT``)."""
    spec = parse_line(line)
    if spec is None:
        raise LineError("empty line")
    live = bus.live_channels(spec.pattern) if spec.is_glob and bus.connected else []
    opened = publisher.call(lambda: publisher.add(line, live))
    publisher.wait_settled(ADD_WAIT, opened)
    return opened


def remove(publisher: Publisher, name: str, why: str) -> list[str]:
    """Stop exposing a channel, a glob line's channels or an axis: the attributes retired."""
    return publisher.call(lambda: publisher.remove(name, why))


def write(bus: Bus, publisher: Publisher, record: AttributeRecord, client_value: Any) -> None:
    """Publish a value a client wrote (held here as a BLISS process holds what it set), once
    the publisher shows it (or after ``SHOWN_WAIT``). Raises ``PermissionError``,
    :class:`~tango_channels_device.bridge.kinds.Mismatch` or ``ConnectionError`` saying why
    not."""
    if not record.writable or record.kind is None:
        raise PermissionError(f"{record.channel} is read-only (its line has no access=rw)")
    value = record.kind.from_client(client_value)
    _connected(bus)
    channel = record.feed.channel
    channel.value = value
    held = channel.held
    if held is not None:
        publisher.wait_shown([record], held.timestamp, SHOWN_WAIT)


def _records(publisher: Publisher, channels: list[str]) -> list[AttributeRecord]:
    def records() -> list[AttributeRecord]:
        found = (publisher.catalogue.feed(n) for n in channels)
        return [r for feed in found if feed is not None for r in feed.records if r.created]

    return publisher.call(records)


def _moving(publisher: Publisher, axis: str) -> bool:
    feed = publisher.catalogue.feed(f"axis.{axis}.state")
    if feed is None:
        return False
    held = feed.channel.held
    return (
        held is not None
        and feed.channel.live
        and is_axis_state(held.value)
        and "MOVING" in axis_state_names(held.value)
    )


def _connected(bus: Bus) -> None:
    if not bus.connected:
        raise ConnectionError(bus.describe_state())


def _escape_glob(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
