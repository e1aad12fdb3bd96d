"""One BLISS channel followed by the server, and the attributes it feeds.

A :class:`Feed` owns one *mirror* :class:`~tango_channels.channel.Channel` on one Redis (it
shows what BLISS processes hold and offers none of it), and hands what happens to it to each
attribute record that shows it, whatever device that record belongs to: each value as the
:class:`~tango_channels.wire.messages.ValueMessage` that brought it, with its own source time
(:meth:`Feed.arrived`, in the bus reader, or in a writer's thread for a value written through
a device), the channel's :class:`~tango_channels.protocol.Standing` when whether anyone holds
it changed (made by the bus under its lock), a connection change, and a :class:`BadMessage`
for an undecodable message. Records of *other* channels that follow this one (an axis
position's quality follows its axis's state) are handed the state's standing. Each goes to
the publisher's queue as ``hand(record, item)``: carried, never looked up later.

The publisher alone changes a feed's tuples of records, and replaces them whole: the reader iterates
whichever tuple it found, never one being changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tango_channels.bus import Bus
from tango_channels.channel import Channel
from tango_channels.protocol import Standing
from tango_channels.wire.messages import ValueMessage

from .attribute import AttributeRecord, AxisStateItem, BadMessage, Connection, Item

__all__ = ["Feed"]


@dataclass(eq=False, slots=True)
class Feed:
    """One followed channel (see the module docstring). ``hand(record, item)`` queues an item
    for the publisher (any thread, never waits)."""

    name: str
    hand: Callable[[AttributeRecord, Item], None]
    # Tuples: replaced whole, and mostly of one record or none (10,000 feeds).
    records: tuple[AttributeRecord, ...] = ()
    dependents: tuple[AttributeRecord, ...] = ()
    channel: Channel | None = None

    def open(self, bus: Bus) -> None:
        """Follow the channel (subscribe, ask its holders): in the publisher thread."""
        self.channel = Channel(
            self.name,
            bus=bus,
            mirror=True,
            on_message=self.arrived,
            on_holders_changed=self.standing_changed,
        )

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def attach(self, record: AttributeRecord) -> None:
        """``record`` shows this channel from now on; it is handed how the channel stands
        now if that says anything yet (taken after it is attached: a value coming meanwhile
        is handed too; the record keeps the newer)."""
        self.records = (*self.records, record)
        if self.channel is not None:
            standing = self.channel.standing()
            if standing.settled:
                self.hand(record, standing)

    def detach(self, record: AttributeRecord) -> None:
        self.records = tuple(r for r in self.records if r is not record)

    def follow(self, record: AttributeRecord) -> None:
        """``record`` (an axis position) follows this channel's state from now on."""
        self.dependents = (*self.dependents, record)
        if self.channel is not None:
            standing = self.channel.standing()
            if standing.held is not None:
                self.hand(record, AxisStateItem(standing))

    def unfollow(self, record: AttributeRecord) -> None:
        self.dependents = tuple(r for r in self.dependents if r is not record)

    @property
    def unused(self) -> bool:
        return not self.records and not self.dependents

    # ------------------------------------------------------------------ in the reader
    def arrived(self, message: ValueMessage) -> None:
        """A new value, with its sender and source time."""
        hand = self.hand
        for record in self.records:
            hand(record, message)
        if self.dependents:
            self._to_dependents(Standing(message, True, None, True, ""))

    def standing_changed(self, standing: Standing) -> None:
        """Whether anyone holds the channel changed, its value did not."""
        hand = self.hand
        for record in self.records:
            hand(record, standing)
        if self.dependents:
            self._to_dependents(standing)

    def connection_changed(self, connection: Connection) -> None:
        for record in self.records:
            self.hand(record, connection)

    def undecodable(self, error: str) -> None:
        item = BadMessage(error)
        for record in self.records:
            self.hand(record, item)

    def _to_dependents(self, standing: Standing) -> None:
        item = AxisStateItem(standing)
        for record in self.dependents:
            self.hand(record, item)
