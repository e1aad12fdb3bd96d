"""A stand-in for Tango behind the publisher: it records what would have been pushed.

The publisher reaches Tango only through its ``Sink``; this one keeps every event per
attribute and kind, answers which events a client listens to and which criteria an
attribute has (both changeable by the test at any moment, as a client or Jive would), and
lets a test wait for what it expects without polling.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from tango_channels_device.bridge.attribute import AttributeRecord, EventKind
from tango_channels_device.bridge.criteria import Criteria
from tango_channels_device.bridge.publisher import Counters, DeviceState
from tango_channels_device.bridge.sample import Sample


class FakeSink:
    def __init__(self, push_seconds: float = 0.0) -> None:
        self.push_seconds = push_seconds  # how long each push takes (a slow Tango)
        self.events: dict[tuple[str, EventKind], list[Sample]] = defaultdict(list)
        self.listening: set[tuple[str, EventKind]] | None = None  # None: every event
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

    def listened(self, record: AttributeRecord, kind: EventKind) -> bool:
        return self.listening is None or (record.name or "", kind) in self.listening

    def criteria(self, record: AttributeRecord) -> Criteria | None:
        return self.criteria_of.get(record.name or "", Criteria())

    def push(self, record: AttributeRecord, kind: EventKind, sample: Sample) -> bool:
        if self.push_seconds:
            time.sleep(self.push_seconds)  # what a slow client makes a push cost
        with self._changed:
            self.events[(record.name or "", kind)].append(sample)
            self._changed.notify_all()
        return True

    def retire(self, record: AttributeRecord, why: str) -> None:
        self.retired[record.name or ""] = why

    def show_state(self, state: DeviceState) -> None:
        with self._changed:
            self.states.append(state)
            self._changed.notify_all()

    def show_counters(self, counters: Counters) -> None:
        self.counters = counters

    def show_names(self, names: list[str]) -> None:
        self.names = names

    def status_lines(self) -> list[str]:
        return []

    # ------------------------------------------------------------------ for tests
    def values(self, attribute: str, kind: EventKind = EventKind.CHANGE) -> list[Any]:
        return [s.error or s.value for s in list(self.events[(attribute, kind)])]

    def wait(self, done: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until ``done()``, rechecked at every push, state and creation."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._changed.wait(left)
