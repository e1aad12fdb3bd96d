"""When the publisher shows every value, and when only each attribute's latest.

Every value BLISS publishes is pushed once, in order, while the publisher keeps up. It does
not keep up when values pile up faster than it shows them; then pushing each of them late
helps nobody (its clients can't take them either: a Python client on a busy machine takes a
few thousand events a second), and the latest value is what matters. Two rules decide:

- **A turn that finds more than** :data:`MAX_TURN` **values waiting** (and more than one per
  attribute) shows each attribute's latest item only. A turn's pushes reach each client as
  one burst; hundreds of pushes in one turn made a long queue in the client (the flood
  bench's p99: see the Performance page). ``MAX_TURN`` values are a stall of 50 ms at 2,000
  values/s, of 2 s at 50 values/s: a moment's stall (the machine busy, a glob's hundred
  attributes being made) is caught up on, value by value.
- **Backed up**: showing values takes most of the publisher thread's *own CPU time*: the
  share of the wall time its thread spent on the CPU showing values, over each
  :data:`WINDOW` (not a single turn: a burst of short turns at start-up says nothing), above
  :data:`BUSY`, until it is below :data:`BUSY_CALM` again. The publisher then takes a turn
  every :data:`PACE` seconds at most, and shows each attribute's latest item only. Values
  superseded this way are counted (``ValuesCoalesced``), and the latest is always last.

Why CPU time and not the wall clock: on a shared machine (a CI runner, a control host running
other servers) the publisher thread waits for a core now and then. Measured by the wall clock,
each such wait looked like values shown late, and like a busy thread: the device dropped
values it could have shown (six values at 50 Hz, in a test, with one core taken by another
process). A thread waiting for a core spends no CPU time: its share goes down, not up.

Pure code: the publisher's loop owns the clocks and passes the times in (tests pass theirs).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BUSY", "BUSY_CALM", "MAX_TURN", "PACE", "WINDOW", "Pacer"]

#: Values taken in one turn beyond which each attribute shows its latest (see above).
MAX_TURN = 100
BUSY, BUSY_CALM = 0.7, 0.4  # share of the wall time the thread's CPU spent showing values
WINDOW = 0.1  # seconds of wall time the share is measured over
PACE = 0.004  # seconds between two turns, at least, while backed up


@dataclass
class Pacer:
    """The publisher's pace (see the module docstring). Owner: the publisher thread."""

    backed_up: bool = False
    _cpu: float = 0.0  # CPU seconds spent showing values in the window so far
    _wall: float = 0.0  # wall seconds of the window so far

    def latest_only(self, waiting: int, records: int) -> bool:
        """Whether the turn about to show ``waiting`` items of ``records`` attributes shows
        each attribute's latest item only."""
        return self.backed_up or waiting > max(MAX_TURN, records)

    def turned(self, cpu_showing: float, wall: float) -> None:
        """A turn ended: its thread spent ``cpu_showing`` CPU seconds showing values, in
        ``wall`` seconds since the end of the turn before (the wait for work included)."""
        self._cpu += cpu_showing
        self._wall += wall
        if self._wall < WINDOW:
            return
        share = self._cpu / self._wall
        self._cpu = self._wall = 0.0
        self.backed_up = share > (BUSY_CALM if self.backed_up else BUSY)

    def pause(self, now: float, ended: float) -> float:
        """Seconds to wait before the next turn (``now`` and ``ended``, the end of the last
        turn, on one clock): none unless backed up, then what is left of ``PACE``."""
        return max(0.0, ended + PACE - now) if self.backed_up else 0.0
