"""The publisher: the one Tango-side thread that carries what Redis says to Tango clients.

It takes the exposure's changes
(:meth:`~tango_channels_device.bridge.exposure.Exposure.take_changes`) and, for each: has the
device create the attributes of new channels (under the device monitor),
applies the attribute's alarm limits and event criteria as its Tango configuration says
(:mod:`tango_channels_device.bridge.criteria`), stores the sample in the read cache and pushes the
change and archive events with strictly increasing timestamps. Every ``PUBLISH_TICK`` it also
pushes the periodic archive events that are due, looks at a few attributes' configurations
(a client may have changed them), and has the device refresh State and Status.

Thread-safety: this thread alone writes the read cache and the alarm table; omniORB threads
read them (a dict lookup: no lock). It never holds a lock of ours across a push; PyTango
takes the device monitor itself for each push.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import tango
from tango import AttrQuality

from .bridge.axes import axis_state_names, is_axis_state
from .bridge.criteria import Criteria, EventFilter, alarm_of
from .bridge.exposure import Exposure
from .bridge.sample import Quality, Sample
from .bridge.views import View
from .errors import dev_failed
from .tango_types import TangoType

__all__ = ["Counters", "Publisher"]

log = logging.getLogger("BeaconChannels")

PUBLISH_TICK = 0.25  # seconds the publisher sleeps at most: periodic work
# Backing up: the publisher is "backed up" when its share of busy time (a moving average over
# its turns) goes above BACKED_UP, and until it falls below CALM. Backed up, it takes a turn
# every PACE seconds at most and pushes each channel's latest value only: values come faster
# than the device, and its clients on the same machine, can carry them; the latest matters.
BACKED_UP, CALM, PACE = 0.6, 0.3, 0.004
CONFIG_REFRESH = 1.0  # seconds an attribute's criteria are kept before reading them again
CONFIG_SWEEP = 20  # attributes whose criteria are read again each tick, changing or not
COUNTERS_PERIOD = 1.0  # seconds between two events of the counters, at most
_QUALITIES = {q: AttrQuality.names[q.value] for q in Quality}
_ALARMS = (Quality.ALARM, Quality.WARNING)


@dataclass
class Counters:
    """What the bridge did, for operators to archive (the device's counter attributes)."""

    values_received: int = 0
    events_pushed: int = 0
    values_coalesced: int = 0
    undecodable_messages: int = 0


class PublishingDevice(Protocol):
    """What the publisher needs of the device."""

    def get_name(self) -> str: ...

    def views(self) -> dict[str, View]: ...

    def tango_type(self, key: str) -> TangoType: ...

    def create_attributes(self, views: list[View]) -> list[View]: ...

    def attribute_properties(self, name: str) -> Any: ...

    def listened(self, key: str, archive: bool) -> bool: ...

    def push_change(self, name: str, *event: Any) -> bool: ...

    def push_archive(self, name: str, *event: Any) -> bool: ...

    def push_counters(self, counters: Counters) -> None: ...

    def push_names(self) -> None: ...

    def update_state(self) -> None: ...


class Publisher:
    """See the module docstring. ``received()`` counts the values the bus took."""

    def __init__(
        self, device: PublishingDevice, exposure: Exposure, received: Callable[[], int]
    ) -> None:
        self.device = device
        self.exposure = exposure
        self.cache: dict[str, Sample] = {}  # attribute (lower case) -> the sample last shown
        self.last_pushed: dict[str, float] = {}  # -> the timestamp of its last event
        # -> "ALARM" or "WARNING", and why
        self.alarms: dict[str, tuple[str, str]] = {}
        self.counters = Counters()
        self._received = received
        self._filters: dict[str, EventFilter] = {}
        self._config_read: dict[str, float] = {}  # -> when its criteria were read
        self._periodic: set[str] = set()  # attributes with an archive_period
        self._sweeping: Iterator[str] = iter(())  # the next attributes to sweep, in turn
        self._sweeping_of: dict[str, View] | None = None  # ... of this dict of views
        self._counted = Counters()
        self._counted_at = 0.0
        self._state_due = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="BeaconChannels publisher", daemon=True
        )

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and join (the caller must not hold the device monitor: we may wait for it)."""
        self._stopping.set()
        self.exposure.changed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def refresh_state_soon(self) -> None:
        """State and Status need computing again: at the next turn."""
        self._state_due = 0.0

    def _run(self) -> None:
        with tango.EnsureOmniThread():
            load, backed_up = 0.0, False
            ended = time.monotonic()
            while not self._stopping.is_set():
                self.exposure.changed.wait(PUBLISH_TICK)
                if backed_up:  # let the values of a few ms come: their latest is pushed
                    self._stopping.wait(max(0.0, ended + PACE - time.monotonic()))
                if self._stopping.is_set():
                    break
                started = time.monotonic()
                try:
                    self._publish_once(latest_only=backed_up)
                except Exception:  # a bug of ours: say so, and keep publishing
                    log.exception("%s: publishing failed", self.device.get_name())
                now = time.monotonic()
                load = 0.8 * load + 0.2 * (now - started) / max(now - ended, 1e-6)
                ended = now
                backed_up = load > (CALM if backed_up else BACKED_UP)

    # ------------------------------------------------------------------ one turn
    def _publish_once(self, latest_only: bool = False) -> None:
        changes = self.exposure.take_changes(latest_only)
        self.counters.values_coalesced += changes.coalesced
        made = self.device.create_attributes(changes.new)
        if made:
            log.debug("%s: attributes of %d channels made", self.device.get_name(), len(made))
        views = self.device.views()
        now = time.time()
        queued = {view for view, _ in changes.samples}
        for view in made:  # made late (the monitor was busy): what it shows now
            key = view.attribute.lower() if view.attribute else ""
            if view not in queued and view.sample is not None and views.get(key) is view:
                self.show(view, key, view.sample, now)
        for view, samples in changes.samples:
            key = view.attribute.lower() if view.attribute else ""
            if views.get(key) is view:
                for sample in samples:
                    self.show(view, key, sample, now)
        if made:  # shown with their first samples: a client subscribing now gets those
            self.exposure.shown(made)
            self.device.push_names()
        self._periodic_archive(views, now)
        self._sweep_configs(views, now)
        self._count()
        if made or time.monotonic() >= self._state_due:
            self._state_due = time.monotonic() + 1.0
            self.device.update_state()

    def show(self, view: View, key: str, sample: Sample, now: float) -> None:
        """Apply alarm limits and criteria to ``sample``, store it, push its events."""
        assert view.attribute is not None
        events = self._filter(view, key, now)
        if sample.error is not None:
            if self.alarms.pop(key, None) is not None:
                self.refresh_state_soon()
        else:
            alarm = ""
            if events.criteria.has_alarms:
                quality, alarm = alarm_of(
                    sample.value, sample.quality, events.criteria, view.attribute
                )
                if quality is not sample.quality:
                    sample = Sample(sample.value, sample.timestamp, quality)
            if alarm or sample.quality in _ALARMS or key in self.alarms:
                self._set_alarm(key, sample.quality, alarm or _quality_reason(view, sample))
        before = self.cache.get(key)
        if before is None or _standing(before) != _standing(sample):
            self.refresh_state_soon()  # Status counts such changes: say them now
        change, archive = events.change(sample), events.archive(sample, now)
        if change or archive:
            timestamp = self._stamp(key, sample, now)
            if timestamp != sample.timestamp:
                sample = sample.at(timestamp)
        self.cache[key] = sample
        if change and self.device.listened(key, archive=False):
            self._push(view, key, sample, self.device.push_change)
        if archive and self.device.listened(key, archive=True):
            self._push(view, key, sample, self.device.push_archive)

    def forget(self, key: str, sample: Sample) -> None:
        """``key`` is retired: reads get ``sample`` (an error) from now on."""
        self.cache[key] = sample
        self.alarms.pop(key, None)
        self._periodic.discard(key)

    # ------------------------------------------------------------------ internals
    def _stamp(self, key: str, sample: Sample, now: float, periodic: bool = False) -> float:
        """The event's timestamp: the value's source time, strictly later than the previous
        event of the attribute (archivers key on it); an error and a periodic event happen
        now."""
        now_is_when = periodic or (sample.error is not None and not sample.absent)
        timestamp = now if now_is_when else sample.timestamp
        last = self.last_pushed.get(key)
        if last is not None and timestamp <= last:
            timestamp = max(now, last + 1e-6)
        self.last_pushed[key] = timestamp
        return timestamp

    def _push(self, view: View, key: str, sample: Sample, push: Callable[..., bool]) -> None:
        """Push ``sample`` (its timestamp already the event's) with ``push``."""
        assert view.attribute is not None
        timestamp = sample.timestamp
        ttype = self.device.tango_type(key)
        if sample.error and not sample.absent:
            event: tuple[Any, ...] = (
                dev_failed(
                    "BeaconChannels_ValueError",
                    sample.error,
                    f"BeaconChannels {self.device.get_name()}",
                ),
            )
        elif sample.value is None:
            event = (ttype.placeholder(), timestamp, AttrQuality.ATTR_INVALID)
        else:
            event = (ttype.to_tango(sample.value), timestamp, _QUALITIES[sample.quality])
        if push(view.attribute, *event):
            self.counters.events_pushed += 1

    def _filter(self, view: View, key: str, now: float) -> EventFilter:
        assert view.attribute is not None and view.kind is not None
        attribute = view.attribute
        events = self._filters.get(key)
        if events is None:
            events = self._filters[key] = EventFilter(numeric=view.kind.numeric)
        if now - self._config_read.get(key, -CONFIG_REFRESH) >= CONFIG_REFRESH:
            self._read_config(attribute, key, events, now)
        return events

    def _read_config(self, attribute: str, key: str, events: EventFilter, now: float) -> bool:
        """Read the attribute's criteria again (the database's, a client's, or the line's
        defaults, as Tango keeps them); True if they changed."""
        self._config_read[key] = now
        try:
            criteria = Criteria.parse(self.device.attribute_properties(attribute))
        except tango.DevFailed as exc:
            log.debug("criteria of %s: %s", attribute, exc.args[0].desc)
            return False
        if criteria.archive_period is None:
            self._periodic.discard(key)
        else:
            self._periodic.add(key)
        changed = criteria != events.criteria
        events.criteria = criteria
        return changed

    def _periodic_archive(self, views: dict[str, View], now: float) -> None:
        """Archive events that ``archive_period`` asks for: the held value, now."""
        for key in list(self._periodic):
            events, sample, view = self._filters.get(key), self.cache.get(key), views.get(key)
            if events is None or sample is None or view is None or not events.archive_due(now):
                continue
            events.archive(sample, now)
            timestamp = self._stamp(key, sample, now, periodic=True)
            periodic = sample.at(timestamp)
            if self.device.listened(key, archive=True):
                self._push(view, key, periodic, self.device.push_archive)

    def _sweep_configs(self, views: dict[str, View], now: float) -> None:
        """Read a few quiet attributes' criteria again: one whose alarm limits changed shows
        its quality again (and an archive_period set on a quiet one starts)."""
        for key in self._next_swept(views, min(CONFIG_SWEEP, len(views))):
            view, events = views.get(key), self._filters.get(key)
            if view is None or events is None or view.attribute is None:
                continue
            if now - self._config_read.get(key, 0.0) < CONFIG_REFRESH:
                continue
            if self._read_config(view.attribute, key, events, now):
                shown = self.cache.get(key)
                if view.sample is not None and shown is not None:
                    self.show(view, key, view.sample, now)

    def _next_swept(self, views: dict[str, View], count: int) -> list[str]:
        """The next ``count`` attributes of ``views`` in turn, round and round, without
        copying ``views`` each turn (10,000 keys take 44 us to copy; a busy publisher takes
        hundreds of turns a second)."""
        keys: list[str] = []
        for _ in range(2):  # from where the last turn stopped, then from the start again
            if self._sweeping_of is not views:  # the first turn, or new views (Init)
                self._sweeping, self._sweeping_of = iter(views), views
            with contextlib.suppress(RuntimeError):  # views changed size meanwhile
                keys.extend(itertools.islice(self._sweeping, count - len(keys)))
            if len(keys) == count:
                break
            self._sweeping_of = None  # at its end (or stale): start again
        return keys

    def _set_alarm(self, key: str, quality: Quality, why: str) -> None:
        if why:
            alarm = (quality.name, why)
            if self.alarms.get(key) != alarm:
                self.alarms[key] = alarm
                self.refresh_state_soon()
        elif self.alarms.pop(key, None) is not None:
            self.refresh_state_soon()

    def _count(self) -> None:
        counters = self.counters
        counters.values_received = self._received()
        counters.undecodable_messages = self.exposure.bus.stats.decode_errors
        now = time.monotonic()
        if counters != self._counted and now - self._counted_at >= COUNTERS_PERIOD:
            self._counted = dataclasses.replace(counters)
            self._counted_at = now
            self.device.push_counters(self._counted)


def _standing(sample: Sample) -> tuple[bool, bool, Quality]:
    """What Status and State make of a sample: an error, no value, its quality."""
    return sample.error is not None, sample.absent, sample.quality


def _quality_reason(view: View, sample: Sample) -> str:
    """Why a sample is ALARM without an alarm limit saying so: its axis (a limit switch, a
    fault), as a Tango motor would be."""
    if sample.quality not in (Quality.ALARM, Quality.WARNING):
        return ""
    state = view.state_of_axis.channel.held if view.state_of_axis is not None else None
    if state is not None and is_axis_state(state.value):
        names = " ".join(axis_state_names(state.value))
        return f"{view.attribute}: axis {view.name.split('.')[1]} is {names}"
    return f"{view.attribute} is {sample.quality.name}"
