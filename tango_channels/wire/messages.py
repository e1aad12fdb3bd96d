"""The three messages of the BLISS channel protocol, as plain Python objects.

BLISS publishes pickles of three classes of its module ``bliss.config.channels``:

- ``_Value(id, timestamp, value)``: a new value of a channel, from the process ``id``;
- ``_Query`` (``name``, ``id``): "who holds a value of this channel?";
- ``_Reply`` (``name``, ``id``, ``value``): an answer to the query ``id``, whose ``value`` is
  the replier's whole ``_Value`` (original sender and timestamp kept) or ``None``.

This module holds our own versions of them; :mod:`tango_channels.wire.decode` builds them from the
wire and :mod:`tango_channels.wire.encode` writes them in BLISS's exact byte layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["WIRE_MODULE", "Query", "Reply", "ValueMessage"]

#: The module path under which BLISS pickles its message classes.
WIRE_MODULE = "bliss.config.channels"


class ValueMessage(NamedTuple):
    """A channel value as it travels: who set it, when (sender's ``time.time()``), and what.

    ``wire`` is the whole pickled message this value came in (or was sent as) and
    ``span`` the byte range of ``value`` inside it, when the message has BLISS's canonical
    layout. A reply re-sends exactly those bytes, so that a value we could only keep as an
    :class:`~tango_channels.wire.opaque.Opaque` (a BLISS ``AxisState``, say) reaches the next BLISS
    process unchanged. ``classes`` are the dotted paths of the opaque classes the value names:
    BLISS would import and run them when it decodes the value.
    """

    sender_id: str
    timestamp: float
    value: Any
    wire: bytes | None = None
    span: tuple[int, int] | None = None
    classes: frozenset[str] = frozenset()

    def is_newer_than(self, other: ValueMessage | None) -> bool:
        """BLISS's rule: a value replaces the held one only if strictly newer."""
        return other is None or self.timestamp > other.timestamp


@dataclass(frozen=True)
class Query:
    """A request for the current value of channel ``name``; ``id`` is a uuid4 hex string."""

    name: str
    id: str


@dataclass(frozen=True)
class Reply:
    """An answer to the query ``id`` on channel ``name``; ``value`` is ``None`` if not held."""

    name: str
    id: str
    value: ValueMessage | None = field(default=None)
