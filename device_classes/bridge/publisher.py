"""The publisher: the one thread that owns what the device shows, and pushes it to Tango.

It owns the :class:`~tango_channels_device.bridge.catalogue.Catalogue` (what is exposed), every
:class:`~tango_channels_device.bridge.attribute.AttributeRecord` (what each attribute shows and
the state of its events), the values of the settings hashes, the counters and State and
Status. Nothing else writes them. Other threads hand it work:

- the **bus reader** queues what happened to a channel for each of its records, each value
  with its own source time, and wakes the publisher (:meth:`Publisher.hand`): appending to one
  deque and setting an event, never waiting;
- the **survey** thread hands it what it found in Redis (:meth:`Publisher.found`);
- **commands** and **Init** (omniORB threads, the device's) send requests and wait for their
  answer, with a timeout (:meth:`Publisher.call`), or for a condition
  (:meth:`Publisher.wait_until`);
- **reads** (omniORB threads) read a record's :attr:`~AttributeRecord.shown` sample, one
  reference, and the catalogue's lookups, without a lock.

Each turn it runs the requests, then what the queue holds, record by record: each item becomes
a sample and the events it makes (:meth:`AttributeRecord.show
<tango_channels_device.bridge.attribute.AttributeRecord.show>`), pushed at once through the
:class:`Sink` (the device: Tango). Every value is pushed once, in order, with its source time,
while the publisher keeps up. It does not keep up, and is *backed up*, when the values it
shows are late (the oldest value of a turn: what it waited, and the turn; a moving average
over turns, above ``BACKED_UP`` seconds) or when showing values takes most of its time (a
moving average of that share, above ``BUSY``), until both are low again (``CALM``,
``BUSY_CALM``): it then takes a turn every ``PACE`` seconds at most and shows each record's
latest item only, and so does a turn that finds more than ``MAX_TURN`` values waiting (and
more than one per record). The others are superseded, counted in ``ValuesCoalesced``, and the
latest is always last. A moment's stall (the machine busy, a glob's hundred attributes being
made, requests such as ``AddChannel``, which don't count as showing values) is caught up on,
value by value; a flood is not shown late, value by value, to clients that can't take it
either.

Why a turn's budget, counted in values: a turn's pushes reach each client as one burst, and
a client takes events at its own pace (a Python client on a busy machine: a few thousand a
second). Hundreds of pushes in one turn, after the publisher thread was kept off a core for
a few tens of ms during a flood, were a queue of 100 ms in the client (``bench/flood.py``,
p99). ``MAX_TURN`` values are a stall of 50 ms at 2,000 values/s, of 250 ms at 400. Periodic
work (archive periods, criteria changed by clients, counters, State) runs when due, between
turns.

Why one thread that pushes, rather than the reader pushing: a push takes the device monitor
(PyTango), which a client's read or command may hold; the reader must never wait for Tango,
or BLISS processes would wait for our answers to their queries. The hand-off costs one wake-up
of this thread per burst of values (``bench/device_bench.py`` measures it against its floor).

Pure Python with no Tango: the :class:`Sink` is the device's, or a test's fake.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tango_channels.bus import Bus, ConnectionState
from tango_channels.wire.messages import ValueMessage

from .attribute import AttributeRecord, Context, EventKind, Item, Push
from .catalogue import Catalogue, SurveyPlan
from .criteria import Criteria
from .feed import Feed
from .kinds import Kind, infer_kind
from .sample import Quality, Sample
from .settings import Persisted, SettingSource, auto_coerce
from .survey import Findings, Survey

__all__ = ["Busy", "Counters", "DeviceState", "Publisher", "Sink", "Unanswered"]

log = logging.getLogger("BeaconChannels")

T = TypeVar("T")

#: Values taken in one turn beyond which each record shows its latest (see the docstring):
#: the device, or its clients, are not keeping up, and the latest value is what matters.
MAX_TURN = 100
TICK = 0.25  # seconds the publisher sleeps at most: periodic work
BACKED_UP, CALM, PACE = 0.02, 0.008, 0.004  # seconds late; seconds between turns
BUSY, BUSY_CALM = 0.7, 0.4  # share of the time spent showing values
CRITERIA_REFRESH = 1.0  # seconds an attribute's criteria are kept before reading them again
CRITERIA_SWEEP = 20  # quiet attributes whose criteria are read again each second
COUNTERS_PERIOD = 1.0  # seconds between two events of the counters, at most
STATE_PERIOD = 1.0  # seconds between two looks at State and Status when nothing says so
CREATE_ATTEMPTS = 10  # turns the publisher tries to create an attribute (the monitor busy)
ALARM_LINES = 5  # alarms said one by one in Status; more are counted


@dataclass
class Counters:
    """What the device did, for operators to archive (its counter attributes)."""

    values_received: int = 0
    events_pushed: int = 0
    values_coalesced: int = 0
    undecodable_messages: int = 0


@dataclass(frozen=True)
class DeviceState:
    """State (a Tango state name: ON, ALARM, FAULT) and Status."""

    state: str
    status: str


class Busy(Exception):
    """The device stayed busy (its monitor held) past the time to make an attribute."""


class Unanswered(TimeoutError):
    """The publisher did not get to a request in time (it was busy, or stopped)."""


class Sink(Protocol):
    """What the publisher needs of Tango: the device (``tango_attributes.TangoAttributes``),
    or a test's fake."""

    def create(self, records: list[AttributeRecord]) -> dict[AttributeRecord, str]:
        """Make (or give back, after Init) the attributes of ``records``: why each that could
        not be made was not (the others were). Raises :class:`Busy`."""

    def listened(self, record: AttributeRecord, kind: EventKind) -> bool:
        """Whether a client subscribed to that kind of event of the record's attribute."""

    def criteria(self, record: AttributeRecord) -> Criteria | None:
        """The attribute's criteria and alarm limits as Tango has them (None: unreadable)."""

    def push(self, record: AttributeRecord, kind: EventKind, sample: Sample) -> bool:
        """Push one event; False if Tango refused it."""

    def retire(self, record: AttributeRecord, why: str) -> None:
        """The record's attribute shows nothing any more (its reads and an error event say
        ``why``); the attribute stays until the server restarts."""

    def show_state(self, state: DeviceState) -> None:
        """State and Status changed: set them, push their events."""

    def show_counters(self, counters: Counters) -> None: ...

    def show_names(self, names: list[str]) -> None:
        """The exposed channels changed (``ChannelNames``)."""

    def status_lines(self) -> list[str]:
        """The device's own lines for Status (retired attributes...)."""


@dataclass(eq=False)
class _Request:
    """Work for the publisher thread, and its answer."""

    work: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass(eq=False)
class _Waiter:
    until: Callable[[], bool]
    done: threading.Event = field(default_factory=threading.Event)


class Publisher:
    """See the module docstring. ``known``: attributes made before Init (record key ->
    (attribute, kind)); ``before``: the records of the publisher before Init (their events go
    on); ``thread_context`` is entered by the publisher and survey threads (the device passes
    ``tango.EnsureOmniThread``)."""

    def __init__(
        self,
        bus: Bus,
        sink: Sink,
        *,
        reserved_names: Iterable[str] = (),
        known: dict[str, tuple[str, str]] | None = None,
        before: Iterable[AttributeRecord] = (),
        discovery_period: float = 2.0,
        settings_period: float = 2.0,
        thread_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        survey: bool = True,
    ) -> None:
        self.bus = bus
        self.sink = sink
        self.catalogue = Catalogue(self.hand, reserved_names, known)
        self._before = {r.key: r for r in before}
        self.counters = Counters()
        self.state = DeviceState("FAULT", "Starting.")
        self.names: list[str] = []  # the channels exposed: replaced whole (read by clients)
        self.attribute_errors: list[str] = []
        self._thread_context = thread_context or contextlib.nullcontext
        # What happened to channels, for each record, in order: the reader (and writers)
        # append, this thread alone takes (see the module docstring).
        self._arrivals: deque[tuple[AttributeRecord, Item, float]] = deque()  # monotonic
        self._requests: deque[_Request] = deque()
        self._waiters: list[_Waiter] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._persisted: dict[SettingSource, tuple[bytes | None, Persisted]] = {}
        self._to_create: dict[AttributeRecord, int] = {}  # -> attempts so far
        self._periodic: set[AttributeRecord] = set()  # records with an archive_period
        self._surveyed = False  # the survey's first findings are in
        self._last_error: tuple[float, str] | None = None  # when, and what
        self._state_due = 0.0  # monotonic
        self._counted = Counters()
        self._counted_at = -COUNTERS_PERIOD
        self._sweep: deque[AttributeRecord] = deque()
        self._survey = (
            Survey(
                bus.address,
                self._plan_now,
                self.found,
                bus.subscribers_seen,
                discovery_period=discovery_period,
                settings_period=settings_period,
                timeout=bus.timeout,
                thread_context=thread_context,
            )
            if survey
            else None
        )
        self._plan = SurveyPlan()
        bus.add_state_listener(self._on_connection)
        bus.add_decode_error_listener(self._on_decode_error)

    # ------------------------------------------------------------------ life
    def start(self, channel_lines: list[str], axis_lines: list[str]) -> None:
        """Expose what the lines say and start publishing (and surveying)."""
        self._open(self.catalogue.configure(channel_lines, axis_lines))
        self._plan = self.catalogue.plan()
        if self._survey is None:
            self._surveyed = True
        self._thread = threading.Thread(
            target=self._run, name="BeaconChannels publisher", daemon=True
        )
        self._thread.start()
        if self._survey is not None:
            self._survey.start()

    def stop(self) -> None:
        """Stop and join (the caller must not hold the device monitor: a push may wait for
        it), close every channel; the bus stays open (it is the caller's). Once."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        if self._survey is not None:
            self._survey.stop()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        self.bus.remove_state_listener(self._on_connection)
        for feed in self.catalogue.feeds():
            feed.close()

    # ------------------------------------------------------------------ other threads
    def hand(self, record: AttributeRecord, item: Item) -> None:
        """What happened to ``record``'s channel (any thread; never waits)."""
        self._arrivals.append((record, item, time.monotonic()))
        self._wake.set()

    def found(self, findings: Findings) -> None:
        """What the survey found (in its thread): taken in the publisher's."""
        self._requests.append(_Request(lambda: self._take_findings(findings)))
        self._wake.set()

    def call(self, work: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``work`` in the publisher thread and return what it returns (or raise what it
        raised); TimeoutError if the publisher did not get to it within ``timeout``."""
        if self._thread is None or threading.current_thread() is self._thread:
            return work()
        request = _Request(work)
        self._requests.append(request)
        self._wake.set()
        if not request.done.wait(timeout):
            raise Unanswered(f"the device stayed busy for {timeout} s; try again")
        if request.error is not None:
            raise request.error
        result: T = request.result
        return result

    def look_now(self, settings: bool = True) -> None:
        """One look at Redis now, in the caller's thread, as the survey takes every period
        (a benchmark's, or a test's)."""
        if self._survey is not None:
            self.found(self._survey.look(settings))

    def wait_until(self, until: Callable[[], bool], timeout: float) -> bool:
        """Wait (without polling) until ``until()``, evaluated in the publisher thread after
        each of its turns, is true; False after ``timeout`` seconds."""
        waiter = _Waiter(until)

        def register() -> None:
            if until():
                waiter.done.set()
            else:
                self._waiters.append(waiter)

        try:
            self.call(register, timeout)
        except TimeoutError:
            return False
        if waiter.done.wait(timeout):
            return True
        with contextlib.suppress(TimeoutError):
            self.call(lambda: self._waiters.remove(waiter) if waiter in self._waiters else None)
        return False

    def wait_settled(self, timeout: float, channels: list[str] | None = None) -> bool:
        """Wait until the channels (all, or ``channels``) have their first answer (a value,
        or nobody holding one) and, where that gave them a type, their attribute."""
        return self.wait_until(lambda: self._settled(channels), timeout)

    def wait_shown(self, records: list[AttributeRecord], since: float, timeout: float) -> bool:
        """Wait until ``records`` show samples of ``since`` (a time.time()) or later."""

        def shown() -> bool:
            return all(
                r.removed or (r.shown is not None and r.shown.timestamp >= since)
                for r in records
            )

        return self.wait_until(shown, timeout)

    # ------------------------------------------------------------------ requests
    def add(self, line: str, live: list[str]) -> list[str]:
        """``AddChannel`` (in the publisher thread): the channels opened."""
        feeds = self.catalogue.add(line, live)
        self._open(feeds)
        return [f.name for f in feeds]

    def remove(self, name: str, why: str) -> list[str]:
        """``RemoveChannel`` (in the publisher thread): the attributes retired."""
        feeds = self.catalogue.remove(name)
        retired = []
        for feed in feeds:
            feed.close()
            for record in feed.records:
                self._to_create.pop(record, None)
                self._periodic.discard(record)
                if record.created:
                    self.sink.retire(record, why)
                    retired.append(record.name or "")
        self._plan = self.catalogue.plan()
        self._names_changed()
        self._state_due = 0.0
        return retired

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        with self._thread_context():
            late, load, backed_up = 0.0, 0.0, False
            ended = time.monotonic()
            while not self._stopping.is_set():
                self._wake.wait(TICK)
                if backed_up:  # let the values of a few ms come: their latest is shown
                    self._stopping.wait(max(0.0, ended + PACE - time.monotonic()))
                self._wake.clear()
                if self._stopping.is_set():
                    break
                arrivals = self._arrivals
                started = time.monotonic()
                waited = started - arrivals[0][2] if arrivals else 0.0
                showing = 0.0
                try:
                    showing = self._turn(latest_only=backed_up)
                except Exception:  # a bug of ours: say so, and keep publishing
                    log.exception("publishing failed")
                now = time.monotonic()
                # How late the oldest value of the turn is shown (what it waited, and the
                # turn), and the share of the time spent showing values (not requests).
                late = 0.8 * late + 0.2 * (waited + now - started)
                load = 0.8 * load + 0.2 * showing / max(now - ended, 1e-6)
                ended = now
                if backed_up:
                    backed_up = late > CALM or load > BUSY_CALM
                else:
                    backed_up = late > BACKED_UP or load > BUSY

    def _turn(self, latest_only: bool = False) -> float:
        """One turn (see the module docstring); the seconds it spent showing values."""
        while self._requests:
            request = self._requests.popleft()
            try:
                request.result = request.work()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                request.error = exc
            request.done.set()
        context = self._context()
        now = time.time()
        arrivals = self._arrivals
        by_record: dict[AttributeRecord, list[Item]] = {}  # in the order they came
        taken = len(arrivals)
        for _ in range(taken):
            record, item, _ = arrivals.popleft()
            items = by_record.get(record)
            if items is None:
                by_record[record] = [item]
            else:
                items.append(item)
        showing = time.monotonic()
        if taken > max(MAX_TURN, len(by_record)):
            latest_only = True
        for record, items in by_record.items():
            self._take(record, items, context, now, latest_only)
        showing = time.monotonic() - showing
        if self._to_create:
            self._create(context, now)
        self._periodic_work(now)
        if self._waiters:
            done = [w for w in self._waiters if w.until()]
            for waiter in done:
                self._waiters.remove(waiter)
                waiter.done.set()
        return showing

    def _take(
        self,
        record: AttributeRecord,
        items: list[Item],
        context: Context,
        now: float,
        latest_only: bool,
    ) -> None:
        """Show ``items``, what happened to ``record``'s channel, in order (or their latest,
        see the module docstring)."""
        if record.removed or record.refused is not None:
            return
        if not record.created:
            if record.waiting is None:
                record.waiting = items  # made for this turn: the record's from now on
            else:
                record.waiting.extend(items)
            self._not_made_yet(record)
            return
        if len(items) > 1 and latest_only:
            self.counters.values_coalesced += len(items) - 1
            items = items[-1:]
        if time.monotonic() - record.criteria_read_at >= CRITERIA_REFRESH:
            self._read_criteria(record)
        for item in items:
            self._show(record, record.sample(item, context, now), now)

    def _show(self, record: AttributeRecord, sample: Sample, now: float) -> None:
        before = (record.alarm, _standing(record.shown))
        pushes = record.show(sample, now)
        if (record.alarm, _standing(record.shown)) != before:
            self._state_due = 0.0  # Status says such changes: say them now
        self._push(record, pushes)

    def _push(self, record: AttributeRecord, pushes: list[Push]) -> None:
        sink = self.sink
        for kind, sample in pushes:
            if sink.listened(record, kind) and sink.push(record, kind, sample):
                self.counters.events_pushed += 1

    def _not_made_yet(self, record: AttributeRecord) -> None:
        """A record without its attribute: its kind (untyped: the first value that says
        one), then its name, then the device makes it (its items wait meanwhile)."""
        if record.kind is None:
            record.kind = self._kind_from(record)
            if record.kind is None:
                return  # None says nothing about the type: wait for a real value
            record.filter = None  # numeric or not, now known
        if not record.named:
            self.catalogue.name(record)
        self._to_create.setdefault(record, 0)

    def _kind_from(self, record: AttributeRecord) -> Kind | None:
        for item in record.waiting or ():
            if type(item) is ValueMessage and item.value is not None:
                kind = infer_kind(item.value)
                if kind is not None:
                    return kind
        held = record.feed.channel.held
        if held is not None and held.value is not None:
            return infer_kind(held.value)
        persisted = self._persisted_value(record.spec.setting) if record.spec.setting else None
        if persisted is not None and persisted.value is not None:
            return infer_kind(persisted.value)
        return None

    def _create(self, context: Context, now: float) -> None:
        """Have the device make the attributes waiting, then show what they have."""
        made = list(self._to_create)
        try:
            refused = self.sink.create(made)
        except Busy as exc:
            log.warning("creating attributes: %s", exc)
            failed = []
            for record in made:
                self._to_create[record] += 1
                if self._to_create[record] >= CREATE_ATTEMPTS:
                    failed.append(record)
                    del self._to_create[record]
            if failed:
                names = ", ".join(r.channel for r in failed[:3]) + (
                    ", ..." if len(failed) > 3 else ""
                )
                self._attribute_error(
                    f"no attribute for {len(failed)} channels ({names}): the device stayed busy "
                    "while creating them; run Init",
                    failed,
                )
            return
        self._to_create.clear()
        for record in made:
            why = refused.get(record)
            if why is not None:
                self._attribute_error(why, [record])
                continue
            record.created = True
            previous = self._before.pop(record.key, None)
            if previous is not None and previous.name == record.name:
                record.continue_from(previous)
            waiting, record.waiting = record.waiting or [], None
            self._take(record, waiting, context, now, latest_only=False)
        self._names_changed()
        log.debug("attributes of %d channels made", len(made))

    def _attribute_error(self, text: str, records: list[AttributeRecord]) -> None:
        """A channel left without its attribute: FAULT, and said in Status, until Init."""
        for record in records:
            record.refused = text
            record.waiting = None
        self.attribute_errors.append(text)
        log.error("%s", text)
        self._state_due = 0.0

    def _read_criteria(self, record: AttributeRecord) -> bool:
        """Read the attribute's criteria again (the database's, a client's, or the line's
        defaults, as Tango keeps them); True if they changed."""
        criteria = self.sink.criteria(record)
        if criteria is None:
            record.criteria_read_at = time.monotonic()
            return False
        changed = record.set_criteria(criteria, time.monotonic())
        if record.periodic:
            self._periodic.add(record)
        else:
            self._periodic.discard(record)
        return changed

    def _periodic_work(self, now: float) -> None:
        """Archive periods, criteria a client changed, counters, State: when due."""
        for record in list(self._periodic):
            push = record.periodic_archive(now)
            if push is not None:
                self._push(record, [push])
        self._sweep_criteria()
        self._count()
        monotonic = time.monotonic()
        if monotonic >= self._state_due:
            self._state_due = monotonic + STATE_PERIOD
            self._update_state()

    def _sweep_criteria(self) -> None:
        """Read a few quiet attributes' criteria again: one whose alarm limits changed shows
        its quality again (and an archive_period set on a quiet one starts)."""
        if not self._sweep:
            self._sweep.extend(r for r in self.catalogue.records() if r.created)
        monotonic = time.monotonic()
        for _ in range(min(CRITERIA_SWEEP, len(self._sweep))):
            record = self._sweep.popleft()
            if record.removed or monotonic - record.criteria_read_at < CRITERIA_REFRESH:
                continue
            if self._read_criteria(record) and record.shown is not None:
                self.hand(record, None)  # shown again under the new limits

    def _count(self) -> None:
        counters = self.counters
        counters.values_received = self.bus.stats.values
        counters.undecodable_messages = self.bus.stats.decode_errors
        monotonic = time.monotonic()
        if counters != self._counted and monotonic - self._counted_at >= COUNTERS_PERIOD:
            self._counted = dataclasses.replace(counters)
            self._counted_at = monotonic
            self.sink.show_counters(self._counted)

    # ------------------------------------------------------------------ what came
    def _open(self, feeds: list[Feed]) -> None:
        # Nothing is shown before the channel speaks (its holders' answer, or nobody holding
        # it): "no value yet" is the device's own ignorance, not news; after Init, the value
        # shown before stays shown meanwhile. Typed attributes are made meanwhile, while
        # the holders answer; SUBSCRIBEs go together.
        with self.bus.subscriptions_together():
            for feed in feeds:
                feed.open(self.bus)
        for feed in feeds:
            for record in feed.records:
                if record.named:
                    self._to_create.setdefault(record, 0)
        if feeds:
            self._plan = self.catalogue.plan()

    def _take_findings(self, findings: Findings) -> None:
        self._open(self.catalogue.discovered(findings.channels, findings.axes))
        if findings.settings is not None:
            now = time.time()
            changed = set()
            for source, raw in findings.settings.items():
                known = self._persisted.get(source)
                if known is None or known[0] != raw:
                    self._persisted[source] = (raw, Persisted(auto_coerce(raw), now))
                    changed.add(source)
            for record in self.catalogue.records():
                if record.spec.setting in changed and not record.feed.channel.live:
                    self.hand(record, None)
        self._surveyed = True

    def _persisted_value(self, source: SettingSource) -> Persisted | None:
        known = self._persisted.get(source)
        return None if known is None or known[0] is None else known[1]

    def _context(self) -> Context:
        bus = self.bus
        connected = bus.connected
        return Context(connected, "" if connected else bus.describe_state(), self._persisted_value)

    def _plan_now(self) -> SurveyPlan:
        return self._plan  # a frozen snapshot, replaced whole: read by the survey thread

    def _on_connection(self, state: ConnectionState, error: str | None) -> None:
        # In the reader: every sample's validity follows the connection; State says it now.
        for feed in self.catalogue.feeds():
            feed.standing()
        when = time.time()
        self._requests.append(_Request(lambda: self._state_now(state, error, when)))
        self._wake.set()

    def _state_now(self, state: ConnectionState, error: str | None, when: float) -> None:
        if state is ConnectionState.DISCONNECTED and error:
            self._last_error = (when, error)
        self._state_due = 0.0

    def _on_decode_error(self, name: str, error: str) -> None:
        # In the reader.
        feed = self.catalogue.feed(name)
        if feed is not None:
            feed.undecodable(f"channel {name}: undecodable message dropped ({error})")

    def _settled(self, channels: list[str] | None) -> bool:
        if not self.bus.connected:
            return True  # nothing more comes: the caller goes on, Status says why
        if not self._surveyed:
            return False
        feeds = (
            [f for n in channels if (f := self.catalogue.feed(n)) is not None]
            if channels
            else self.catalogue.feeds()
        )
        return all(
            feed.channel.settled
            and all(
                r.created or r.kind is None or r.refused is not None for r in feed.records
            )
            for feed in feeds
        )

    def _names_changed(self) -> None:
        """The channels exposed (their attributes made), in channel-name order."""
        names = sorted({r.channel for r in self.catalogue.records() if r.created})
        if names != self.names:
            self.names = names
            self.sink.show_names(names)

    # ------------------------------------------------------------------ State and Status
    def refresh_state(self) -> DeviceState:
        """State and Status now (in the publisher thread), shown if they changed."""
        self._update_state()
        return self.state

    def _update_state(self) -> None:
        bus = self.bus
        connection = bus.describe_state()
        lines = [connection[0].upper() + connection[1:] + "."]
        lines += self._summary()
        lines += self.sink.status_lines()
        errors = self.catalogue.errors + self.attribute_errors
        lines += errors
        if bus.stats.decode_errors:
            lines.append(
                f"Undecodable messages dropped: {bus.stats.decode_errors} (the log names each "
                "channel and why)."
            )
        alarms = sorted(
            (r.name or "", r.alarm) for r in self.catalogue.records() if r.alarm is not None
        )
        for _, (quality, why) in alarms[:ALARM_LINES]:
            lines.append(f"{quality.capitalize()}: {why}.")
        if len(alarms) > ALARM_LINES:
            lines.append(f"... and {len(alarms) - ALARM_LINES} more attributes in alarm.")
        if self._last_error is not None:
            when, text = self._last_error
            clock = time.strftime("%H:%M:%S", time.localtime(when))
            lines.append(f"Last error ({clock}): {text}")
        faulty = not bus.connected or errors
        state = "FAULT" if faulty else "ALARM" if alarms else "ON"
        new = DeviceState(state, "\n".join(lines))
        if new != self.state:
            self.state = new
            self.sink.show_state(new)

    def _summary(self) -> list[str]:
        """Lines for Status: what is shown, what is not, and why."""
        records = self.catalogue.records()
        made = [r for r in records if r.created]
        pending = [r for r in records if r.kind is None and r.refused is None]
        samples = [(r, r.shown) for r in made if r.shown is not None]
        line = f"{len({r.channel for r in made})} channels exposed as attributes"
        if pending:
            line += (
                f"; {len(pending)} waiting for a first value to set their type "
                f"({_names(pending)})"
            )
        lines = [line + "."]
        fallback = [
            r
            for r, s in samples
            if s.error is None and r.spec.setting is not None and not r.feed.channel.live
        ]
        if fallback:
            lines.append(
                f"{len(fallback)} channels shown from BLISS settings: no session holds them "
                f"({_names(fallback)})."
            )
        absent = [(r, s) for r, s in samples if s.absent and s.error]
        absent += [(r, _NOTHING_YET) for r in made if r.shown is None]
        gone = [(r, s) for r, s in absent if r.feed.channel.abandoned is not None]
        if gone:
            lines.append(
                f"{len(gone)} channels not held by any BLISS process "
                f"({_names([r for r, _ in gone])}): {gone[0][1].error}."
            )
        missing = [r for r, _ in absent if r.feed.channel.abandoned is None]
        if missing:
            lines.append(
                f"{len(missing)} channels have no value yet ({_names(missing)}): "
                f"{missing[0].feed.channel.why_no_value()}."
            )
        errors = [s.error for _, s in samples if s.error and not s.absent]
        if errors and self.bus.connected:
            lines.append(f"{len(errors)} channels with a value error, e.g. {errors[0]}.")
        return lines


_NOTHING_YET = Sample.failed("no value yet", 0.0, absent=True)


def _standing(sample: Sample | None) -> tuple[bool, bool, Quality] | None:
    """What Status and State make of a sample: an error, no value, its quality."""
    if sample is None:
        return None
    return sample.error is not None, sample.absent, sample.quality


def _names(records: list[AttributeRecord]) -> str:
    names = sorted({r.channel for r in records})
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")

