"""The publisher: the one thread of a server that owns what its devices show, and pushes it.

One :class:`Publisher` serves every device of a server (BeaconChannels and BeaconAxis
devices alike, through their :class:`~tango_channels_device.bridge.devices.DeviceBridge`): it
owns their attribute tables and every
:class:`~tango_channels_device.bridge.attribute.AttributeRecord`, the
:class:`~tango_channels_device.bridge.link.Link` of each Redis they follow (its feeds, the
settings read there, its connection), the counters, State and Status. Nothing else writes
them. Other threads hand it work:

- a **bus reader** (one per Redis) queues what happened to a channel for each record that
  shows it, in order (:meth:`Publisher.hand`): one put on a ``queue.SimpleQueue``, never a wait;
  its connection's changes and undecodable messages go the same way;
- a **survey** thread (one per Redis) hands it what it found (:meth:`Publisher.found`);
- **commands**, **Init** and **writes** (omniORB threads) send requests and wait for their
  answer with a timeout (:meth:`Publisher.call`), or for a condition
  (:meth:`Publisher.wait_until`);
- **reads** (omniORB threads) read a record's :attr:`~AttributeRecord.shown` sample, one
  reference, without a lock.

Each turn runs the requests, then what the queue holds, record by record: each item becomes a
sample and the events it makes (:meth:`AttributeRecord.show
<tango_channels_device.bridge.attribute.AttributeRecord.show>`), pushed at once through the
record's device's :class:`~tango_channels_device.bridge.devices.Sink`. Every value is pushed
once, in order, with its source time, while the publisher keeps up; when it doesn't, only
superseded values are dropped, counted, and the latest is always last
(:mod:`~tango_channels_device.bridge.pacer`). Then the attributes waiting to be made are
made, and periodic work runs when due (archive periods, criteria changed by clients,
counters, State and Status).

What a device shows follows what it wants (:meth:`DeviceBridge.wanted
<tango_channels_device.bridge.devices.DeviceBridge.wanted>`): :meth:`Publisher.reconcile`
makes its attribute table match, moving each record through its life
(:mod:`~tango_channels_device.bridge.lifecycle`): new records, attributes retired when no line
matches their channel any more, and shown again, under the same name, when one does.

Why one thread that pushes, rather than each reader pushing: a push takes the device monitor
(PyTango), which a client's read or command may hold; a reader must never wait for Tango, or
BLISS processes would wait for our answers to their queries. The hand-off costs one wake-up
of this thread per burst of values (``bench/device_bench.py`` measures it against its floor).

Pure Python with no Tango: the sinks are the devices', or a test's fakes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tango_channels.bus import Bus, ConnectionState
from tango_channels.channel import Channel
from tango_channels.transport.address import RedisAddress
from tango_channels.wire.messages import ValueMessage

from .attribute import EVENT_BITS, AttributeRecord, Connection, Item, Push
from .axes import axis_state_names, is_axis_state
from .catalogue import Want
from .devices import Busy, ChannelsBridge, DeviceBridge
from .feed import Feed
from .kinds import Kind, infer_kind
from .lifecycle import CREATE_ATTEMPTS, Phase, Step, move
from .lines import LineError
from .link import Link, LinkKey
from .naming import NameTaken
from .pacer import Pacer
from .sample import Quality, Sample
from .status import DeviceState, Situation
from .survey import Findings, Survey

__all__ = ["Publisher", "Unanswered"]

log = logging.getLogger("BeaconChannels")

T = TypeVar("T")

TICK = 0.25  # seconds the publisher sleeps at most: periodic work
CRITERIA_REFRESH = 1.0  # seconds an attribute's criteria are kept before reading them again
CRITERIA_SWEEP = 20  # quiet attributes whose criteria are read again each turn
COUNTERS_PERIOD = 1.0  # seconds between two events of the counters, at most
STATE_PERIOD = 1.0  # seconds between two looks at State and Status when nothing says so


_FOLLOWED = (Phase.UNTYPED, Phase.PENDING, Phase.SHOWN)


class Unanswered(TimeoutError):
    """The publisher did not get to a request in time (it was busy, or stopped)."""


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


BusFactory = Callable[[RedisAddress, tuple[str, ...]], Bus]
_Arrival = tuple[AttributeRecord, Item]


class Publisher:
    """See the module docstring. ``make_bus(address, trusted_modules)`` makes the bus of a
    Redis the first device on it needs (the server passes one whose reader enters
    ``tango.EnsureOmniThread``); ``thread_context`` is entered by the publisher and survey
    threads. ``survey=False``: no survey threads (tests and benches look themselves with
    :meth:`look_now`)."""

    def __init__(
        self,
        make_bus: BusFactory,
        *,
        thread_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
        survey: bool = True,
    ) -> None:
        self._make_bus = make_bus
        self._thread_context = thread_context or contextlib.nullcontext
        self._surveys = survey
        self.links: dict[LinkKey, Link] = {}
        self.devices: list[DeviceBridge] = []
        # What happened to channels, for each record, in order, and requests: readers,
        # writers and other threads put, this thread alone takes (see the module docstring).
        # A SimpleQueue (C): a put wakes this thread with no Python-level lock or condition.
        self._inbox: queue.SimpleQueue[_Arrival | _Request | None] = queue.SimpleQueue()
        self._hand = self.hand  # one bound method for every feed (10,000 of them)
        self._waiters: list[_Waiter] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pacer = Pacer()
        self._to_create: dict[AttributeRecord, None] = {}
        self._periodic: set[AttributeRecord] = set()  # records with an archive_period
        self._sweep: deque[AttributeRecord] = deque()

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="BeaconChannels publisher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop and join (the caller must not hold a device monitor: a push may wait for
        it), then close every link. Once."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._inbox.put(None)
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        for link in list(self.links.values()):
            self._close_link(link)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ other threads
    def hand(self, record: AttributeRecord, item: Item) -> None:
        """What happened to ``record``'s channel (any thread; never waits)."""
        self._inbox.put((record, item))

    def found(self, link: Link, findings: Findings) -> None:
        """What the survey of ``link`` found (in its thread): taken in the publisher's."""
        self._inbox.put(_Request(lambda: self._take_findings(link, findings)))

    def send(self, work: Callable[[], object]) -> None:
        """Have ``work`` run in the publisher thread, without waiting for it (an error it
        raises is logged)."""

        def logged() -> None:
            try:
                work()
            except Exception:  # nobody waits for it: say it
                log.exception("a request to the publisher failed")

        self._inbox.put(_Request(logged))

    def call(self, work: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``work`` in the publisher thread and return what it returns (or raise what it
        raised); :class:`Unanswered` if the publisher did not get to it within ``timeout``."""
        if self._thread is None or threading.current_thread() is self._thread:
            return work()
        request = _Request(work)
        self._inbox.put(request)
        if not request.done.wait(timeout):
            raise Unanswered(f"the device stayed busy for {timeout} s; try again")
        if request.error is not None:
            raise request.error
        result: T = request.result
        return result

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

    def wait_settled(
        self, device: DeviceBridge, timeout: float, channels: Iterable[str] | None = None
    ) -> bool:
        """Wait until the device's attributes (of ``channels`` only, if given) show their
        channels' first answers: a value, or nobody holding one (see :meth:`settled`)."""
        wanted = None if channels is None else set(channels)
        return self.wait_until(lambda: self.settled(device, wanted), timeout)

    def wait_shown(self, records: list[AttributeRecord], since: float, timeout: float) -> bool:
        """Wait until ``records`` show samples of ``since`` (a time.time()) or later."""

        def shown() -> bool:
            return all(
                r.phase is not Phase.SHOWN or (r.shown is not None and r.shown.timestamp >= since)
                for r in records
            )

        return self.wait_until(shown, timeout)

    def look_now(self, device: DeviceBridge, settings: bool = True) -> None:
        """One look at the device's Redis now, in the caller's thread, as the survey takes
        every period (a benchmark's, or a test's)."""
        def planned() -> Link:
            self._replan()
            return self.link_of(device)

        link = self.call(planned)
        survey = self._survey_of(link)
        self.found(link, survey.look(settings))

    # ------------------------------------------------------------------ requests
    # Each of these runs in the publisher thread (through call()).
    def attach(self, device: DeviceBridge) -> None:
        """Serve ``device`` from now on (its Redis's link made if it is the first)."""
        link = self._link_for(device)
        link.devices.append(device)
        device.context = link.context
        self.devices.append(device)
        survey = link.survey
        if survey is not None:
            survey.discovery_period = min(survey.discovery_period, device.discovery_period)
            survey.settings_period = min(survey.settings_period, device.settings_period)
        self.reconcile(device, "")
        if survey is not None and not survey.started:
            self._replan()
            survey.start()  # its first look is for what the device wants (its plan)
        log.debug("%s: attached to Redis at %s", device.name, link.address, extra=device.about)

    def detach(self, device: DeviceBridge) -> None:
        """Serve ``device`` no more: its records leave their feeds (and the link closes if it
        was the last device on its Redis)."""
        if device not in self.devices:
            return
        link = self.link_of(device)
        for record in device.records.values():
            self._detach_record(link, record)
            self._to_create.pop(record, None)
            self._periodic.discard(record)
        self.devices.remove(device)
        link.devices.remove(device)
        if not link.devices:
            self._close_link(link)
        else:
            link.planned = False

    def configure(
        self, device: ChannelsBridge, channel_lines: list[str], axis_lines: list[str], why: str
    ) -> None:
        """A BeaconChannels device's lines, at start and at Init: attributes of channels no
        line matches any more are retired (``why``); attributes that could not be made are
        tried again."""
        device.catalogue.configure(channel_lines, axis_lines)
        device.errors.clear()
        for record in device.records.values():
            if move(record, Step.INIT) is Phase.PENDING:
                record.attempts, record.why = 0, ""
                self._to_create[record] = None
        if device in self.devices:
            self.reconcile(device, why)

    def add(self, device: ChannelsBridge, line: str, live: list[str]) -> list[str]:
        """``AddChannel``: the channels it exposes that were not exposed before."""
        before = self._exposed(device)
        spec = device.catalogue.add(line, live)
        chosen = spec.attr
        if chosen and not spec.is_glob:
            record = device.records.get(spec.pattern)
            own = record is not None and (record.name or "").lower() == chosen.lower()
            if not own and device.namer.is_taken(chosen):
                device.catalogue.remove(spec.pattern)
                raise LineError(f"attribute name {chosen!r} is already taken")
        self.reconcile(device, "")
        return sorted(self._exposed(device) - before)

    def remove(self, device: ChannelsBridge, name: str, why: str) -> list[str]:
        """``RemoveChannel``: the attributes retired."""
        before = {r for r in device.records.values() if r.phase is Phase.SHOWN}
        device.catalogue.remove(name)
        self.reconcile(device, why)
        return sorted(r.name or "" for r in before if r.phase is Phase.RETIRED)

    def refresh_state(self, device: DeviceBridge) -> DeviceState:
        """State and Status now, shown if they changed."""
        self._update_state(device, time.monotonic())
        return device.state

    def channel(self, device: DeviceBridge, name: str) -> Channel | None:
        """The open channel ``name`` of the device's Redis (None: not followed)."""
        feed = self.link_of(device).feeds.get(name)
        return feed.channel if feed is not None else None

    def moving(self, device: DeviceBridge, axis: str) -> bool:
        """Whether the device shows axis ``axis`` as MOVING now."""
        record = device.records.get(f"axis.{axis}.state")
        held = record.held if record is not None else None
        return (
            record is not None
            and held is not None
            and record.live
            and is_axis_state(held.value)
            and "MOVING" in axis_state_names(held.value)
        )

    def settled(self, device: DeviceBridge, channels: set[str] | None = None) -> bool:
        """Whether the device's records (of ``channels``) show their channels' first answers
        (in the publisher thread; see :meth:`wait_settled`)."""
        link = self.links.get(_key(device))
        if link is None:
            return True
        if not link.connection.connected:
            return link.outage  # lost: nothing more comes, Status says why; else connecting
        if not link.surveyed and self._surveys:
            return False
        for record in device.records.values():
            if channels is not None and record.channel not in channels:
                continue
            phase = record.phase
            if phase is Phase.PENDING:
                return False
            if phase is Phase.UNTYPED and not record.settled:
                return False
            if phase is Phase.SHOWN and (not record.settled or record.shown is None):
                return False
        return True

    # ------------------------------------------------------------------ reconciling
    def reconcile(self, device: DeviceBridge, why: str) -> None:
        """Make the device's attribute table match what it wants (see the module
        docstring); ``why``: what retired attributes say (a command, Init)."""
        link = self.link_of(device)
        wanted = device.wanted()
        if isinstance(device, ChannelsBridge):
            device.refused = []
        now = time.time()
        with link.bus.subscriptions_together():
            for key, want in wanted.items():
                record = device.records.get(key)
                if record is None:
                    self._new_record(device, link, want)
                else:
                    self._rematch(device, link, record, want)
            for key, record in list(device.records.items()):
                if key not in wanted:
                    self._unmatch(device, link, record, why, now)
        link.planned = False  # made again at the end of the turn: once, however many devices
        self._names_changed(device)
        device.state_due = 0.0

    def _new_record(self, device: DeviceBridge, link: Link, want: Want) -> None:
        record = AttributeRecord(
            want.channel, want.spec, want.view, want.kind, owner=device, axis_state=want.axis_state
        )
        try:
            record.name = device.claim(want)
        except NameTaken as exc:
            assert isinstance(device, ChannelsBridge)
            device.refused.append(f"{want.spec.line!r}: {exc}")
            return
        device.records[want.key] = record
        if record.kind is not None:
            self._typed(device, record, want)
        self._attach_record(link, record)

    def _typed(self, device: DeviceBridge, record: AttributeRecord, want: Want | None) -> None:
        """``record``'s kind is known: name it, and have its attribute made."""
        if record.name is None:
            record.name = device.name_for(want or Want(record.channel, record.spec), record)
        device.by_name[record.name.lower()] = record
        move(record, Step.TYPED)
        self._to_create[record] = None

    def _rematch(
        self, device: DeviceBridge, link: Link, record: AttributeRecord, want: Want
    ) -> None:
        made = record.phase in (Phase.SHOWN, Phase.RETIRED)
        if record.kind is not None and (
            (want.kind is not None and want.kind != record.kind)
            or (made and want.spec.writable != record.spec.writable)
        ):
            if isinstance(device, ChannelsBridge):
                wanted = f"{want.kind or record.kind}" + (", rw" if want.spec.writable else "")
                device.refused.append(
                    f"{want.spec.line!r}: channel {record.channel} is now {wanted}, but attribute "
                    f"{record.name} has another type: restart the server to change it"
                )
            return
        if want.axis_state != record.axis_state:
            self._unfollow(link, record)
            record.axis_state = want.axis_state
            if record.phase is not Phase.RETIRED:
                self._follow(link, record)
        if want.spec != record.spec and record.phase is Phase.SHOWN:
            self.hand(record, None)  # shown again as its line now says (setting=...)
        record.spec, record.view = want.spec, want.view
        if record.phase is Phase.RETIRED:
            move(record, Step.MATCHED)
            record.why, record.shown = "", None
            record.forget_last()  # its next sample is news to the clients that stayed
            self._attach_record(link, record)
            self._criteria(record)

    def _unmatch(
        self, device: DeviceBridge, link: Link, record: AttributeRecord, why: str, now: float
    ) -> None:
        phase = record.phase
        if phase is Phase.RETIRED:
            return
        self._detach_record(link, record)
        self._to_create.pop(record, None)
        self._periodic.discard(record)
        if move(record, Step.UNMATCHED) is Phase.RETIRED:
            record.retire(
                f"attribute {record.name} no longer shows channel {record.channel}: {why}; a line "
                "matching it shows it again, a restart drops it",
                now,
            )
            device.sink.retire(record)
        else:
            del device.records[record.key]
            if record.name is not None:
                device.by_name.pop(record.name.lower(), None)

    def _exposed(self, device: DeviceBridge) -> set[str]:
        """The channels the device follows for an attribute (made, or to be)."""
        return {r.channel for r in device.records.values() if r.phase in _FOLLOWED}

    # ------------------------------------------------------------------ links and feeds
    def link_of(self, device: DeviceBridge) -> Link:
        return self.links[_key(device)]

    def _link_for(self, device: DeviceBridge) -> Link:
        key = _key(device)
        link = self.links.get(key)
        if link is not None:
            return link
        bus = self._make_bus(*key)
        link = Link(key, bus)
        link.connection = Connection(False, bus.describe_state())

        lost = [False]  # the reader's own: a connection lost since the last one made

        def on_connection(state: ConnectionState, error: str | None) -> None:
            # In the reader: every record of the link hears a loss, and the return after it,
            # in order with its values (a first connection is no news to them).
            connection = Connection(state is ConnectionState.CONNECTED, bus.describe_state())
            if state is ConnectionState.DISCONNECTED or (connection.connected and lost[0]):
                lost[0] = not connection.connected
                for feed in list(link.feeds.values()):
                    feed.connection_changed(connection)
            self._inbox.put(_Request(lambda: self._connection_changed(link, connection, error)))

        def on_undecodable(name: str, error: str) -> None:
            feed = link.feeds.get(name)  # in the reader
            if feed is not None:
                feed.undecodable(f"channel {name}: undecodable message dropped ({error})")

        bus.add_state_listener(on_connection)
        bus.add_decode_error_listener(on_undecodable)
        link.listener = on_connection
        if bus.connected:
            link.connection = Connection(True, bus.describe_state())
        if self._surveys:
            link.survey = self._new_survey(link, device)  # started once the plan is made
        else:
            link.surveyed = True
        self.links[key] = link
        return link

    def _new_survey(self, link: Link, device: DeviceBridge) -> Survey:
        bus = link.bus
        return Survey(
            link.address,
            lambda: link.plan,
            lambda findings: self.found(link, findings),
            bus.subscribers_seen,
            discovery_period=device.discovery_period,
            settings_period=device.settings_period,
            timeout=bus.timeout,
            client_name=f"{bus.client_name}:survey",
            thread_context=self._thread_context,
        )

    def _survey_of(self, link: Link) -> Survey:
        if link.survey is None:
            link.survey = self._new_survey(link, link.devices[0])
        return link.survey

    def _close_link(self, link: Link) -> None:
        if link.survey is not None:
            link.survey.stop()
        for feed in link.feeds.values():
            feed.close()
        link.feeds.clear()
        if link.listener is not None:
            with contextlib.suppress(ValueError):
                link.bus.remove_state_listener(link.listener)
        link.bus.close()
        self.links.pop(link.key, None)

    def _replan(self) -> None:
        """The survey plans that devices and feeds changed since, made again."""
        for link in self.links.values():
            if not link.planned:
                link.plan, link.planned = link.survey_plan(), True

    def _connection_changed(self, link: Link, connection: Connection, error: str | None) -> None:
        link.connection_changed(connection.connected, connection.why, error)
        for device in link.devices:
            device.state_due = 0.0

    def _feed(self, link: Link, channel: str) -> Feed:
        feed = link.feeds.get(channel)
        if feed is None:
            feed = link.feeds[channel] = Feed(channel, self._hand)
            feed.open(link.bus)
        return feed

    def _attach_record(self, link: Link, record: AttributeRecord) -> None:
        self._feed(link, record.channel).attach(record)
        self._follow(link, record)
        if link.outage:  # it says so as the others do (they heard it in order)
            self.hand(record, link.connection)

    def _detach_record(self, link: Link, record: AttributeRecord) -> None:
        feed = link.feeds.get(record.channel)
        if feed is not None:
            feed.detach(record)
            self._close_if_unused(link, feed)
        self._unfollow(link, record)

    def _follow(self, link: Link, record: AttributeRecord) -> None:
        if record.axis_state is not None:
            self._feed(link, record.axis_state).follow(record)

    def _unfollow(self, link: Link, record: AttributeRecord) -> None:
        if record.axis_state is None:
            return
        feed = link.feeds.get(record.axis_state)
        if feed is not None:
            feed.unfollow(record)
            self._close_if_unused(link, feed)

    def _close_if_unused(self, link: Link, feed: Feed) -> None:
        if feed.unused:
            feed.close()
            del link.feeds[feed.name]

    def _take_findings(self, link: Link, findings: Findings) -> None:
        for device in list(link.devices):
            if isinstance(device, ChannelsBridge) and device.catalogue.discovered(
                findings.channels, findings.axes
            ):
                self.reconcile(device, "")
        if findings.settings is not None:
            changed = link.settings_read(findings.settings)
            if changed:
                for device in link.devices:
                    for record in device.records.values():
                        if record.spec.setting in changed and not record.live:
                            self.hand(record, None)
        link.surveyed = True

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        with self._thread_context():
            pacer = self._pacer
            inbox = self._inbox
            ended = time.monotonic()
            while not self._stopping.is_set():
                try:
                    first: _Arrival | _Request | None = inbox.get(timeout=TICK)
                except queue.Empty:
                    first = None  # periodic work only
                if pacer.backed_up:  # let the values of a few ms come: their latest is shown
                    self._stopping.wait(pacer.pause(time.monotonic(), ended))
                if self._stopping.is_set():
                    break
                showing = 0.0
                try:
                    showing = self._turn(first)
                except Exception:  # a bug of ours: say so, and keep publishing
                    log.exception("publishing failed")
                now = time.monotonic()
                pacer.turned(showing, now - ended)
                ended = now

    def turn(self) -> None:
        """One turn in the caller's thread: a test's, driving a publisher whose thread it
        did not start (the model-based test of the catalogue and the commands)."""
        assert self._thread is None, "the publisher's own thread takes its turns"
        self._turn(None)

    def _turn(self, first: _Arrival | _Request | None) -> float:
        """One turn (see the module docstring), ``first`` and whatever else waits; the CPU
        seconds this thread spent showing values."""
        inbox = self._inbox
        waiting: list[_Arrival | _Request | None] = [] if first is None else [first]
        with contextlib.suppress(queue.Empty):
            while True:
                waiting.append(inbox.get_nowait())
        by_record: dict[AttributeRecord, list[Item]] = {}  # in the order they came
        taken = 0
        for thing in waiting:
            if type(thing) is tuple:
                record, item = thing
                items = by_record.get(record)
                if items is None:
                    by_record[record] = [item]
                else:
                    items.append(item)
                taken += 1
        for thing in waiting:  # requests first, as they came
            if type(thing) is _Request:
                try:
                    thing.result = thing.work()
                except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                    thing.error = exc
                thing.done.set()
        now = time.time()
        started = time.thread_time()
        latest_only = self._pacer.latest_only(taken, len(by_record))
        for record, items in by_record.items():
            self._take(record, items, now, latest_only)
        showing = time.thread_time() - started
        if self._to_create:
            self._create(now)
        self._replan()
        self._periodic_work(now)
        if self._waiters:
            done = [w for w in self._waiters if w.until()]
            for waiter in done:
                self._waiters.remove(waiter)
                waiter.done.set()
        return showing

    def _take(
        self, record: AttributeRecord, items: list[Item], now: float, latest_only: bool
    ) -> None:
        """Show ``items``, what happened to ``record``'s channel, in order (or their latest:
        see :mod:`~tango_channels_device.bridge.pacer`)."""
        phase = record.phase
        if phase is Phase.SHOWN:
            self._show_items(record, items, now, latest_only)
        elif phase is Phase.UNTYPED or phase is Phase.PENDING:
            if record.waiting is None:
                record.waiting = items  # made for this turn: the record's from now on
            else:
                record.waiting.extend(items)
            if phase is Phase.UNTYPED:
                kind = self._kind_from(record)
                if kind is not None:
                    record.kind = kind
                    record.filter = None  # numeric or not, now known
                    self._typed(record.owner, record, None)
        # REFUSED, RETIRED, DROPPED: nothing is shown (items queued before it left)

    def _show_items(
        self, record: AttributeRecord, items: list[Item], now: float, latest_only: bool
    ) -> None:
        device: DeviceBridge = record.owner
        if len(items) > 1 and latest_only:
            # Each item still says what it says of the channel; only the last is shown, with
            # the latest value (superseded values are counted).
            values = sum(1 for item in items if type(item) is ValueMessage)
            device.counters.values_coalesced += max(values - 1, 0)
            for item in items[:-1]:
                record.take(item)
            items = items[-1:]
        listening = device.sink.listening(record)
        if listening & ~record.listening or (
            time.monotonic() - record.criteria_read_at >= CRITERIA_REFRESH
        ):
            self._criteria(record)  # a new subscriber gets the configuration it set
        record.listening = listening
        context = device.context
        for item in items:
            self._show(record, record.sample(item, context, now), now)

    def _show(self, record: AttributeRecord, sample: Sample, now: float) -> None:
        before = (record.alarm, _standing(record.shown))
        pushes = record.show(sample, now)
        if (record.alarm, _standing(record.shown)) != before:
            device: DeviceBridge = record.owner
            device.state_due = 0.0  # Status says such changes: say them now
        if pushes:
            self._push(record, pushes)

    def _push(self, record: AttributeRecord, pushes: list[Push]) -> None:
        device: DeviceBridge = record.owner
        sink, listening = device.sink, record.listening
        for kind, sample in pushes:
            if listening & EVENT_BITS[kind] and sink.push(record, kind, sample):
                device.counters.events_pushed += 1

    def _kind_from(self, record: AttributeRecord) -> Kind | None:
        for item in record.waiting or ():
            if type(item) is ValueMessage and item.value is not None:
                kind = infer_kind(item.value)
                if kind is not None:
                    return kind
        held = record.held
        if held is not None and held.value is not None:
            return infer_kind(held.value)
        link = self.link_of(record.owner)
        persisted = link.persisted(record.spec.setting) if record.spec.setting else None
        if persisted is not None and persisted.value is not None:
            return infer_kind(persisted.value)
        return None

    def _create(self, now: float) -> None:
        """Have each device make the attributes waiting, then show what they have."""
        by_device: dict[DeviceBridge, list[AttributeRecord]] = {}
        for record in self._to_create:
            by_device.setdefault(record.owner, []).append(record)
        self._to_create.clear()
        for device, records in by_device.items():
            try:
                refused = device.sink.create(records)
            except Busy as exc:
                log.warning("%s: creating attributes: %s", device.name, exc, extra=device.about)
                self._busy(device, records)
                continue
            for record in records:
                why = refused.get(record)
                if why is not None:
                    self._refuse(device, record, why)
                    continue
                move(record, Step.MADE)
                self._criteria(record)
                waiting, record.waiting = record.waiting or [], None
                self._show_items(record, waiting, now, latest_only=False)
            self._names_changed(device)
            log.debug(
                "%s: attributes of %d channels made", device.name, len(records), extra=device.about
            )

    def _busy(self, device: DeviceBridge, records: list[AttributeRecord]) -> None:
        failed = []
        for record in records:
            record.attempts += 1
            if record.attempts < CREATE_ATTEMPTS:
                move(record, Step.BUSY)
                self._to_create[record] = None
            else:
                failed.append(record)
        if failed:
            names = ", ".join(r.channel for r in failed[:3]) + (", ..." if len(failed) > 3 else "")
            why = (
                f"no attribute for {len(failed)} channels ({names}): the device stayed busy "
                "while creating them; run Init"
            )
            for record in failed:
                self._refuse(device, record, why, say=record is failed[0])

    def _refuse(
        self, device: DeviceBridge, record: AttributeRecord, why: str, say: bool = True
    ) -> None:
        """A record left without its attribute: FAULT, and said in Status, until Init."""
        move(record, Step.REFUSED)
        record.why, record.waiting = why, None
        if say:
            device.errors.append(why)
            log.error("%s: %s", device.name, why, extra=device.about)
        device.state_due = 0.0

    def _criteria(self, record: AttributeRecord) -> bool:
        """Read the attribute's criteria again (the database's, a client's, or the line's
        defaults, as Tango keeps them); True if they changed."""
        device: DeviceBridge = record.owner
        criteria = device.sink.criteria(record)
        read_at = time.monotonic()
        if criteria is None:
            record.criteria_read_at = read_at
            return False
        changed = record.set_criteria(criteria, read_at)
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
        monotonic = time.monotonic()
        for device in self.devices:
            self._count(device, monotonic)
            if monotonic >= device.state_due:
                self._update_state(device, monotonic)

    def _sweep_criteria(self) -> None:
        """Read a few quiet attributes' criteria again: one whose alarm limits changed shows
        its quality again (and an archive_period set on a quiet one starts)."""
        if not self._sweep:
            self._sweep.extend(
                r for d in self.devices for r in d.records.values() if r.phase is Phase.SHOWN
            )
        monotonic = time.monotonic()
        for _ in range(min(CRITERIA_SWEEP, len(self._sweep))):
            record = self._sweep.popleft()
            if record.phase is not Phase.SHOWN:
                continue
            if monotonic - record.criteria_read_at < CRITERIA_REFRESH:
                continue
            if self._criteria(record) and record.shown is not None:
                self.hand(record, None)  # shown again under the new limits

    def _count(self, device: DeviceBridge, monotonic: float) -> None:
        counters = device.counters
        stats = self.link_of(device).bus.stats
        counters.values_received = stats.values
        counters.undecodable_messages = stats.decode_errors
        if counters != device.counted and monotonic - device.counted_at >= COUNTERS_PERIOD:
            device.counted = dataclasses.replace(counters)
            device.counted_at = monotonic
            device.sink.show_counters(device.counted)

    def _update_state(self, device: DeviceBridge, monotonic: float) -> None:
        device.state_due = monotonic + STATE_PERIOD
        link = self.link_of(device)
        situation = Situation(
            connected=link.connection.connected,
            connection=link.connection.why,
            source=device.source,
            records=list(device.records.values()),
            errors=device.situation_errors(),
            decode_errors=link.bus.stats.decode_errors,
            last_error=link.last_error,
        )
        new = device.state_now(situation)
        if new != device.state:
            device.state = new
            device.sink.show_state(new)

    def _names_changed(self, device: DeviceBridge) -> None:
        """The channels exposed (their attributes made), in channel-name order."""
        names = sorted(
            {r.channel for r in device.records.values() if r.phase is Phase.SHOWN}
        )
        if names != device.names:
            device.names = names
            device.sink.show_names(names)


def _key(device: DeviceBridge) -> LinkKey:
    return (device.address, device.trusted_modules)


def _standing(sample: Sample | None) -> tuple[bool, bool, Quality] | None:
    """What Status and State make of a sample: an error, no value, its quality."""
    if sample is None:
        return None
    return sample.error is not None, sample.absent, sample.quality

