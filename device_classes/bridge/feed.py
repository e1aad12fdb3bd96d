"""One BLISS channel followed by the device, and the attributes it feeds.

A :class:`Feed` owns one *mirror* :class:`~tango_channels.channel.Channel` (it shows what BLISS
processes hold and offers none of it) and hands what happens to it to each of its attribute
records, carried, never looked up later: each value as the
:class:`~tango_channels.wire.messages.ValueMessage` that brought it, with its own source time
(:meth:`Feed.arrived`, in the bus reader, or in a writer's thread for a value written through
the device), ``None`` when what the channel shows changed without a value (nobody holds it any
more, a holder is back: :meth:`Feed.standing`), and a :class:`BadMessage` for an undecodable
message. Records of *other* channels that depend on this one (an axis position's quality
follows its axis's state) are told ``None`` too. Each goes to the publisher's queue as
``hand(record, item)``.

A feed's lists of records are set by the publisher before the channel opens, and changed by
it alone after; the reader only iterates them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tango_channels.bus import Bus
from tango_channels.channel import Channel
from tango_channels.wire.messages import ValueMessage

from .attribute import AttributeRecord, BadMessage, Item

__all__ = ["Feed"]


@dataclass(eq=False, slots=True)
class Feed:
    """One followed channel (see the module docstring). ``hand(record, item)`` queues an item
    for the publisher (any thread, never waits)."""

    name: str
    hand: Callable[[AttributeRecord, Item], None]
    records: list[AttributeRecord] = field(default_factory=list)
    dependents: list[AttributeRecord] = field(default_factory=list)
    channel: Channel = field(init=False)

    def open(self, bus: Bus) -> None:
        """Follow the channel (subscribe, ask its holders): in the publisher thread."""
        self.channel = Channel(
            self.name,
            bus=bus,
            mirror=True,
            on_message=self.arrived,
            on_holders_changed=self.standing,
        )

    def close(self) -> None:
        self.channel.close()

    def arrived(self, message: ValueMessage) -> None:
        """A new value, with its sender and source time."""
        self._hand(message)

    def standing(self) -> None:
        """What the channel shows changed, without a value."""
        self._hand(None)

    def undecodable(self, error: str) -> None:
        self._hand(BadMessage(error))

    def _hand(self, item: Item) -> None:
        hand = self.hand
        for record in self.records:
            hand(record, item)
        for record in self.dependents:
            hand(record, None)
