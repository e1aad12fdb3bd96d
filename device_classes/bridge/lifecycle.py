"""An attribute's life, written down once: one enum, one table of legal moves, one function.

An :class:`~tango_channels_device.bridge.attribute.AttributeRecord` is one Tango attribute of
one device, showing one BLISS channel (or one view of it). It lives as long as its device
object, Init included: the device's attribute table keeps it, and a line that matches its
channel again (Init, ``AddChannel``, a glob's new match) finds it again, with its name and its
events going on where they stopped. Its :class:`Phase`:

- ``UNTYPED``: its kind is not known yet (an untyped line): it waits for a first value that
  says one, and has no name and no attribute meanwhile;
- ``PENDING``: its kind and name are known: the device has to make its attribute (it tries
  again, while the device stays busy, up to ``CREATE_ATTEMPTS`` turns);
- ``SHOWN``: its attribute exists and shows its channel: reads and events;
- ``REFUSED``: its attribute could not be made (the name exists with another type, Tango
  refused it, the device stayed busy): Status says why, until Init tries again;
- ``RETIRED``: its attribute exists, but no line matches its channel any more (or the line
  that does asks for another type than the attribute has): reads and an error event say so.
  Attributes are never removed while the server runs (removing one a client reads crashes
  PyTango 10.3 servers); a restart drops it, and a line matching its channel again shows it
  again, under the same name, its events going on;
- ``DROPPED``: gone without ever having had an attribute (its line removed while it was
  ``UNTYPED``, ``PENDING`` or ``REFUSED``): the table forgets it. A record whose attribute
  was made is never dropped: its name and type stay taken until the server restarts.

Every legal move is one entry of :data:`MOVES`. :func:`move` is the only place a phase
changes; a step that is not legal in a phase changes nothing and says so (None), as
:mod:`tango_channels.protocol` does for channels.
"""

from __future__ import annotations

import enum
from typing import Protocol

__all__ = ["CREATE_ATTEMPTS", "MOVES", "Phase", "Step", "move"]

#: Turns the publisher tries to make an attribute while the device stays busy.
CREATE_ATTEMPTS = 10


class Phase(enum.Enum):
    """Where an attribute stands (see the module docstring)."""

    UNTYPED = "untyped"
    PENDING = "pending"
    SHOWN = "shown"
    REFUSED = "refused"
    RETIRED = "retired"
    DROPPED = "dropped"


class Step(enum.Enum):
    """What moves an attribute from one :class:`Phase` to another."""

    TYPED = "typed"  # its kind became known (and it was named)
    MADE = "made"  # the device made its attribute (or gave back the one it had)
    BUSY = "busy"  # the device stayed busy: try again next turn
    REFUSED = "refused"  # the attribute can't be made (or Tango refused it)
    UNMATCHED = "unmatched"  # no line matches its channel any more
    MATCHED = "matched"  # a line matches its channel again
    INIT = "init"  # Init: a refused attribute is tried again


#: Every legal move: (phase, step) -> the next phase. Anything else changes nothing.
MOVES: dict[tuple[Phase, Step], Phase] = {
    (Phase.UNTYPED, Step.TYPED): Phase.PENDING,
    (Phase.UNTYPED, Step.UNMATCHED): Phase.DROPPED,
    (Phase.PENDING, Step.MADE): Phase.SHOWN,
    (Phase.PENDING, Step.BUSY): Phase.PENDING,
    (Phase.PENDING, Step.REFUSED): Phase.REFUSED,
    (Phase.PENDING, Step.UNMATCHED): Phase.DROPPED,
    (Phase.SHOWN, Step.UNMATCHED): Phase.RETIRED,
    (Phase.RETIRED, Step.MATCHED): Phase.SHOWN,  # its attribute exists: shown again
    (Phase.REFUSED, Step.UNMATCHED): Phase.DROPPED,
    (Phase.REFUSED, Step.INIT): Phase.PENDING,
}


class HasPhase(Protocol):
    phase: Phase


def move(record: HasPhase, step: Step) -> Phase | None:
    """The one transition function: move ``record`` by ``step`` as :data:`MOVES` says;
    None (and no change) if the step is not legal in its phase."""
    phase = MOVES.get((record.phase, step))
    if phase is not None:
        record.phase = phase
    return phase
