"""A stand-in for Tango behind the publisher: it records what would have been pushed.

The publisher reaches a device's Tango half only through its ``Sink``; this one keeps every
event per attribute and kind, answers which events a client listens to and which criteria an
attribute has (both changeable by the test at any moment, as a client or Jive would), keeps
every State and Status, and lets a test wait for what it expects without polling.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from tango_channels_device.bridge.attribute import EVENT_BITS, AttributeRecord, EventKind
from tango_channels_device.bridge.criteria import Criteria
from tango_channels_device.bridge.devices import Counters
from tango_channels_device.bridge.sample import Sample
from tango_channels_device.bridge.status import DeviceState

ALL = sum(EVENT_BITS.values())


class FakeSink:
    def __init__(self, push_seconds: float = 0.0) -> None:
        self.push_seconds = push_seconds  # how long each push takes (a slow Tango)
        self.events: dict[tuple[str, EventKind], list[Sample]] = defaultdict(list)
        self.listening_to: set[tuple[str, EventKind]] | None = None  # None: every event
        self.criteria_of: dict[str, Criteria] = {}
        self.created: list[str] = []
        self.retired: dict[str, str] = {}
        self.states: list[DeviceState] = []
        self.counters = Counters()
        self.names: list[str] = []
        self._changed = threading.Condition()

    # ------------------------------------------------------------------ Sink
    def create(self, records: list[AttributeRecord]) -> dict[AttributeRecord, str]:
        with self._changed:
            self.created += [r.name or "" for r in records]
            self._changed.notify_all()
        return {}

    def listening(self, record: AttributeRecord) -> int:
        if self.listening_to is None:
            return ALL
        name = record.name or ""
        return sum(bit for kind, bit in EVENT_BITS.items() if (name, kind) in self.listening_to)

    def criteria(self, record: AttributeRecord) -> Criteria | None:
        return self.criteria_of.get(record.name or "", Criteria())

    def push(self, record: AttributeRecord, kind: EventKind, sample: Sample) -> bool:
        if self.push_seconds:
            time.sleep(self.push_seconds)  # what a slow client makes a push cost
        with self._changed:
            self.events[(record.name or "", kind)].append(sample)
            self._changed.notify_all()
        return True

    def retire(self, record: AttributeRecord) -> None:
        with self._changed:
            self.retired[record.name or ""] = record.why
            assert record.shown is not None
            self.events[(record.name or "", EventKind.CHANGE)].append(record.shown)
            self._changed.notify_all()

    def show_state(self, state: DeviceState) -> None:
        with self._changed:
            self.states.append(state)
            self._changed.notify_all()

    def show_counters(self, counters: Counters) -> None:
        self.counters = counters

    def show_names(self, names: list[str]) -> None:
        with self._changed:
            self.names = names
            self._changed.notify_all()

    # ------------------------------------------------------------------ for tests
    def values(self, attribute: str, kind: EventKind = EventKind.CHANGE) -> list[Any]:
        return [s.error or s.value for s in list(self.events[(attribute, kind)])]

    @property
    def state(self) -> DeviceState | None:
        return self.states[-1] if self.states else None

    def wait(self, done: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until ``done()``, rechecked at every push, state, creation and name change."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._changed.wait(left)
