"""BeaconChannels: a Tango device exposing BLISS channels and axes as attributes.

    BeaconChannels <instance> [Tango options]     (-nodb -dlist ..., -file=..., a database)

The device is thin: :class:`tango_channels_device.bridge.exposure.Exposure` (Tango-free) follows the
channels and axes named by the ``Channels`` and ``Axes`` properties, decides their kinds and
attribute names and computes their samples; :class:`~tango_channels_device.publisher.Publisher`
carries them to Tango; this class creates the attributes and turns library errors into Tango
errors, State and Status.

Threads and events
------------------
The server runs in PyTango's default synchronous (thread) mode.

- **Reads** are served by omniORB threads from the read cache (the samples last shown),
  without I/O and without taking any lock of ours; so are State and Status (computed by the
  publisher).
- The **bus reader** (Redis) never touches Tango: it records each new sample in the exposure
  and wakes the publisher.
- One **publisher** thread (``BeaconChannels publisher``, inside ``tango.EnsureOmniThread``)
  owns everything Tango-side that follows from Redis: it has this class create the attributes
  of new channels (under the device monitor), applies alarm limits and event criteria, stores
  samples for reads and pushes change and archive events with strictly increasing timestamps,
  then State and Status. Every value is pushed, in order, while it keeps up; when a channel's
  values back up, its latest is (:data:`~tango_channels_device.bridge.exposure.MAX_BURST`). PyTango
  takes the device monitor itself for each push, in the same order as a client read (monitor,
  then GIL); no lock of ours is held across a push.
- **Writes and commands** run in omniORB threads under the monitor; what they change reaches
  clients through the publisher (a write waits, a moment, for it to show the value).
  ``delete_device`` stops the publisher and joins it without holding the monitor
  (``AutoTangoAllowThreads``): the publisher may be waiting for it.
- Once the server runs (``post_init``, in the main thread; or the publisher, before the
  first attribute it adds then), the server subscribes itself to its own State events,
  through its admin device, once: cppTango 10.3 would otherwise crash at the first
  attribute added in the ten minutes after a boot (:mod:`.event_socket`).
- When Beacon doesn't answer at start, one thread asks it again every ``BEACON_RETRY``
  seconds, then starts the device under the monitor, as ``init_device`` would have;
  ``delete_device`` stops and joins it.

Log records of the device and the library go to Python's logging (stderr, the journal) and to
the device's Tango logging (:mod:`~tango_channels_device.tango_log`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import tango
from tango import AttrQuality, DevState
from tango.server import Device, attribute, command, device_property

from tango_channels import Bus, ConnectionState
from tango_channels.transport.address import BeaconError, RedisAddress, ask_beacon, resolve

from .bridge.exposure import Exposure
from .bridge.sample import Sample
from .bridge.views import View
from .errors import dev_failed, raise_failed, tango_errors
from .event_socket import make_event_socket
from .publisher import Counters, Publisher
from .tango_log import TangoLog, console_logging_by_tango
from .tango_types import TangoType, client_text, tango_text, tango_type

__all__ = ["BeaconChannels", "main"]

log = logging.getLogger("BeaconChannels")

STATIC_ATTRIBUTES = [
    "State",
    "Status",
    "ChannelNames",
    "ValuesReceived",
    "EventsPushed",
    "ValuesCoalesced",
    "UndecodableMessages",
]
INITIAL_WAIT = 5.0  # seconds init_device waits for the first values (types) of its channels
ADD_WAIT = 2.0  # the same for AddChannel (within a client's default 3 s timeout)
SHOWN_WAIT = 1.0  # seconds a write or ClearCache waits for the publisher to show its result
BEACON_RETRY = 2.0  # seconds between two questions to a Beacon server that did not answer
CREATE_ATTEMPTS = 10  # times the publisher tries to create an attribute (monitor busy)
ALARM_LINES = 5  # alarms said one by one in Status; more are counted


def _version() -> str:
    try:
        return importlib.metadata.version("tango-channels")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class BeaconChannels(Device):
    """BLISS channels (Redis pub/sub, as BLISS shares motor states, cached parameters...) and
    BLISS axes exposed as attributes, with change and archive events at the source timestamp."""

    RedisUrl = device_property(
        dtype=str,
        default_value="",
        doc="redis://host:port/db or unix:///path. Empty: BeaconHost, else BEACON_HOST, "
        "REDIS_URL, redis://localhost:6379/0.",
    )
    BeaconHost = device_property(
        dtype=str,
        default_value="",
        doc="host:port of the Beacon server to ask for its Redis address (as BLISS does).",
    )
    Channels = device_property(
        dtype=(str,),
        default_value=[],
        doc="One channel (or glob) per line: <name> [attr=] [type=] [access=read|rw] "
        "[default=<JSON>] [unit=] [format=] [label=] [description=] [setting=<key>/<field>] "
        "[abs_change= rel_change= archive_abs_change= archive_rel_change= archive_period= "
        "min_alarm= max_alarm= min_warning= max_warning= min_value= max_value=]",
    )
    Axes = device_property(
        dtype=(str,),
        default_value=[],
        doc="One BLISS axis (or glob) per line: <name> [unit=] [format=] [label=]; its "
        "channels become axis_<name>_position, _state, _velocity... (read-only).",
    )
    TrustedModules = device_property(
        dtype=(str,),
        default_value=["bliss."],
        doc="Module prefixes of the classes (AxisState, enums...) whose values this device "
        "re-sends to BLISS processes that ask for values written here.",
    )
    DiscoveryPeriod = device_property(
        dtype=float,
        default_value=2.0,
        doc="Seconds between two looks at Redis: new channels matching the globs, and "
        "channels no BLISS process holds any more.",
    )
    SettingsPeriod = device_property(
        dtype=float,
        default_value=2.0,
        doc="Seconds between two reads of the BLISS settings hashes shown while no session "
        "holds their channels.",
    )

    # ------------------------------------------------------------------ life cycle
    def init_device(self) -> None:
        super().init_device()
        if not hasattr(self, "_types"):
            # These survive Init. Attributes are never removed while the server runs (removing
            # one that a client is reading corrupts the server's heap with PyTango 10.3 /
            # cppTango 10.3): an attribute whose channel goes away is *retired* (its reads say
            # why) until a restart, and comes back if its channel does, with the same type.
            self._types: dict[str, TangoType] = {}  # attribute (lower case) -> Tango type
            self._shown: dict[str, tuple[str, str, str]] = {}  # -> (attribute, key, kind)
            self._retired: dict[str, str] = {}  # attribute (lower case) -> why
            self._views: dict[str, View] = {}
            self._attributes: dict[str, Any] = {}  # attribute (lower case) -> tango.Attribute
            self._tango_log = TangoLog(self)
            self._tango_log.attach()
            self.add_version_info("tango-channels", _version())
        self._last_error: tuple[float, str] | None = None
        # What keeps the device from running (no Redis yet), and what went wrong with its
        # attributes: both are FAULT, until they go (the first) or until Init (the second).
        self._not_running = "Not running."
        self._attribute_errors: list[str] = []
        self._to_create: dict[View, int] = {}  # views whose attribute could not be made yet
        self._state, self._status = DevState.FAULT, self._not_running
        self._stopping = threading.Event()
        self._finder: threading.Thread | None = None
        self.publisher: Publisher | None = None
        self.bus: Bus | None = None
        self.exposure: Exposure | None = None
        for name in ("State", "Status", "ChannelNames", *STATIC_ATTRIBUTES[3:]):
            self.set_change_event(name, True, False)
        try:
            redis = self._find_redis()
        except BeaconError as exc:
            # Beacon may just not be up yet (a whole beamline starting): ask again.
            since = time.strftime("%H:%M:%S")
            self._not_running = f"Cannot find Redis since {since}: {exc}; asking again."
            self._error(f"cannot find Redis: {exc}")
            self._finder = threading.Thread(
                target=self._find_redis_forever, name="BeaconChannels Beacon", daemon=True
            )
            self._finder.start()
            self.update_state()
            return
        except (ValueError, OSError) as exc:
            self._not_running = f"Cannot find Redis: {exc}. Correct the property, then Init."
            self._error(f"cannot find Redis: {exc}")
            self.update_state()
            return
        self._start(redis)

    def _find_redis(self) -> RedisAddress:
        """Where Redis is, from the properties (asking Beacon if they say so)."""
        if self.RedisUrl:
            return resolve(self.RedisUrl)
        if self.BeaconHost:
            return ask_beacon(self.BeaconHost)
        return resolve(None)

    def _find_redis_forever(self) -> None:
        """Ask Beacon every BEACON_RETRY seconds until it answers, then start (this thread
        stops at delete_device, which waits for it without holding the monitor)."""
        with tango.EnsureOmniThread():
            while not self._stopping.wait(BEACON_RETRY):
                try:
                    redis = self._find_redis()
                except (BeaconError, ValueError, OSError) as exc:
                    log.debug("%s: still no Redis: %s", self.get_name(), exc)
                    continue
                with tango.AutoTangoMonitor(self):
                    if not self._stopping.is_set():
                        self._start(redis)
                return

    def _start(self, redis: RedisAddress) -> None:
        """Connect to Redis, expose the configured channels and axes, start the publisher
        (under the device monitor)."""
        self.bus = Bus(
            redis,
            reader_context=tango.EnsureOmniThread,
            client_name=f"BeaconChannels:{self.get_name()}",
            trusted_modules=tuple(self.TrustedModules),
        )
        known = {key: (attr, kind) for attr, key, kind in self._shown.values()}
        self.exposure = Exposure(
            self.bus,
            reserved_names=STATIC_ATTRIBUTES,
            known=known,
            discovery_period=self.DiscoveryPeriod,
            settings_period=self.SettingsPeriod,
            thread_context=tango.EnsureOmniThread,
        )
        bus = self.bus
        self.publisher = Publisher(self, self.exposure, received=lambda: bus.stats.values)
        self.bus.add_state_listener(self._on_connection)
        self.bus.wait_connected(min(2.0, self.bus.timeout))
        self.exposure.configure(list(self.Channels), list(self.Axes))
        self.publisher.start()
        # The publisher makes the attributes under the monitor: let it have the monitor while
        # the holders answer (their first values decide the types of untyped channels).
        with tango.AutoTangoAllowThreads(self):
            self.exposure.wait_settled(INITIAL_WAIT)
        when = time.strftime("%H:%M:%S")
        self._retire(
            [k for k in self._types if k not in self._views],
            f"its channel is no longer configured (Init at {when})",
        )
        self.update_state()
        log.info("%s: %s", self.get_name(), " ".join(self._status.splitlines()))

    def delete_device(self) -> None:
        # The publisher may be waiting for the monitor we hold: let it go while we wait.
        with tango.AutoTangoAllowThreads(self):
            self._stopping.set()
            if self._finder is not None:
                self._finder.join(timeout=10)
            if self.publisher is not None:
                self.publisher.stop()
            if self.exposure is not None:
                self.exposure.stop()
            if self.bus is not None:
                self.bus.close()
        self._views = {}

    # ------------------------------------------------------------------ for the publisher
    def views(self) -> dict[str, View]:
        return self._views

    def tango_type(self, key: str) -> TangoType:
        return self._types[key]

    def attribute_properties(self, name: str) -> Any:
        return self._attribute(name.lower()).get_properties()

    def listened(self, key: str, archive: bool) -> bool:
        """Whether a client subscribed to the attribute's archive (or change) events: the
        publisher pushes nothing nobody listens to (a new subscriber reads the value)."""
        attr = self._attribute(key)
        return bool(attr.archive_event_subscribed() if archive else attr.change_event_subscribed())

    def _attribute(self, key: str) -> Any:
        attr = self._attributes.get(key)
        if attr is None:
            attr = self._attributes[key] = self.get_device_attr().get_attr_by_name(key)
        return attr

    def create_attributes(self, views: list[View]) -> list[View]:
        """Make the attributes of new views, under the monitor, and return the views done
        with: made, or refused for good (said in Status). Those it could not make for the
        monitor stayed busy are tried again next time, up to CREATE_ATTEMPTS times."""
        for view in views:
            self._to_create.setdefault(view, 0)
        if not self._to_create or self.exposure is None:
            return []
        waiting = list(self._to_create)
        make_event_socket(self.get_name())  # before the first attribute added once running
        try:
            with tango.AutoTangoMonitor(self):
                for view in waiting:
                    self._expose(view)
        except tango.DevFailed as exc:  # the monitor stayed busy past its timeout
            log.warning("creating attributes: %s", exc.args[0].desc)
            for view in waiting:
                self._to_create[view] += 1
            failed = [v for v in waiting if self._to_create[v] >= CREATE_ATTEMPTS]
            if failed:
                names = ", ".join(v.name for v in failed[:3])
                names += ", ..." if len(failed) > 3 else ""
                self._attribute_error(
                    f"no attribute for {len(failed)} channels ({names}): the device stayed busy "
                    "while creating them; run Init"
                )
                for view in failed:
                    del self._to_create[view]
            return []
        self._to_create.clear()
        return waiting

    def _expose(self, view: View) -> None:
        """Create (or reuse, after Init) the attribute of ``view``, or say in Status why it
        can't have one."""
        assert view.kind is not None and view.attribute is not None
        key = view.attribute.lower()
        wanted = tango_type(view.kind)
        existing = self._types.get(key)
        if existing is not None and existing.signature != wanted.signature:
            self._attribute_error(
                f"channel {view.name} is now {view.kind}, but attribute {view.attribute} "
                "has another type: restart the server to change it"
            )
            return
        if existing is None:
            try:
                self._create_attribute(view, wanted)
            except tango.DevFailed as exc:
                self._attribute_error(
                    f"cannot create attribute {view.attribute} for channel {view.name}: "
                    f"{exc.args[0].desc}"
                )
                return
        self._types[key] = wanted
        self._shown[key] = (view.attribute, view.key, str(view.kind))
        self._retired.pop(key, None)
        self._views[key] = view

    def _create_attribute(self, view: View, ttype: TangoType) -> None:
        assert view.attribute is not None and view.kind is not None
        spec = view.spec
        attr = ttype.make_attr(view.attribute, view.writable)
        props = tango.UserDefaultAttrProp()
        props.set_label(spec.label or view.name)
        description = f"BLISS channel {view.name}"
        if spec.description:
            description = f"{spec.description} (BLISS channel {view.name})"
        props.set_description(description)
        if spec.unit:
            props.set_unit(spec.unit)
        if spec.format:
            props.set_format(spec.format)
        if view.kind.name == "enum":
            props.set_enum_labels(list(view.kind.labels))
        for name, value in spec.properties:  # defaults: the database and clients win
            if name == "archive_period" or view.kind.numeric:  # Tango refuses the others
                getattr(props, f"set_{name}")(value)
            else:
                log.warning(
                    "%s: %s= ignored for %s, a %s channel (it makes an event when it changes)",
                    self.get_name(),
                    name,
                    view.name,
                    view.kind,
                )
        attr.set_default_properties(props)
        attr.set_change_event(True, False)
        attr.set_archive_event(True, False)
        self.add_attribute(
            attr,
            r_meth=self.read_channel,
            w_meth=self.write_channel if view.writable else None,
        )

    def push_change(self, name: str, *event: Any) -> bool:
        return self._push(self.push_change_event, name, event)

    def push_archive(self, name: str, *event: Any) -> bool:
        return self._push(self.push_archive_event, name, event)

    def _push(self, push: Any, name: str, event: tuple[Any, ...]) -> bool:
        try:
            push(name, *event)
        except tango.DevFailed as exc:  # e.g. the monitor busy past its timeout
            self._error(f"pushing an event of {name}: {exc.args[0].desc}")
            return False
        return True

    def push_counters(self, counters: Counters) -> None:
        for name, value in (
            ("ValuesReceived", counters.values_received),
            ("EventsPushed", counters.events_pushed),
            ("ValuesCoalesced", counters.values_coalesced),
            ("UndecodableMessages", counters.undecodable_messages),
        ):
            self._push(self.push_change_event, name, (value,))

    def _retire(self, keys: list[str], why: str) -> None:
        for key in keys:
            attribute, channel, _ = self._shown[key]
            reason = self._retired.get(key) or (  # retired before: it still says why
                f"attribute {attribute} no longer shows channel {channel}: {why}; "
                "it goes away when the server restarts"
            )
            self._retired[key] = reason
            self._views.pop(key, None)
            if self.publisher is not None:
                self.publisher.forget(key, Sample.failed(reason, time.time()))
            origin = f"BeaconChannels {self.get_name()}"
            failed = dev_failed("BeaconChannels_Retired", reason, origin)
            self.push_change(attribute, failed)
            self.push_archive(attribute, failed)
        if keys:
            self.push_names()

    # ------------------------------------------------------------------ reads and writes
    def read_channel(self, attr: tango.Attribute) -> Any:
        key = attr.get_name().lower()
        sample = self.publisher.cache.get(key) if self.publisher is not None else None
        if key in self._retired:
            raise_failed("BeaconChannels_Retired", self._retired[key], self._origin())
        if sample is None:  # created a moment ago, its first sample not stored yet
            return self._types[key].placeholder(), time.time(), AttrQuality.ATTR_INVALID
        if sample.error:
            reason = "BeaconChannels_NoValue" if sample.absent else "BeaconChannels_ValueError"
            raise_failed(reason, sample.error, self._origin())
        if sample.value is None:
            return self._types[key].placeholder(), sample.timestamp, AttrQuality.ATTR_INVALID
        quality = AttrQuality.names[sample.quality.value]
        return self._types[key].to_tango(sample.value), sample.timestamp, quality

    def write_channel(self, attr: tango.WAttribute) -> None:
        view = self._views.get(attr.get_name().lower())
        if view is None or self.exposure is None:
            raise_failed(
                "BeaconChannels_NoChannel",
                f"{attr.get_name()} is no longer exposed",
                "BeaconChannels.write",
            )
        value = attr.get_write_value()
        # Text beyond Latin-1 comes as its UTF-8 bytes, as it is sent (see tango_text).
        if isinstance(value, str):
            value = client_text(value)
        elif view.kind is not None and view.kind.dtype == "str":
            value = [client_text(v) for v in value]
        doing = f"{attr.get_name()} not written (channel {view.name})"
        with tango_errors(doing, "BeaconChannels.write"):
            self.exposure.write(view, value)
        self._wait_shown([view])

    def _wait_shown(self, views: list[View]) -> None:
        """Wait (a little) until the publisher shows the values the channels of ``views``
        hold now, so that a client reading right after a write or a command sees what it
        did. The publisher stores samples before it pushes them, without the monitor: this
        may hold it."""
        publisher = self.publisher
        if publisher is None:
            return
        targets = [
            (v.attribute.lower(), held.timestamp)
            for v in views
            if v.attribute is not None and (held := v.watch.channel.held) is not None
        ]
        _wait_until(
            lambda: all(
                (shown := publisher.cache.get(key)) is not None and shown.timestamp >= since
                for key, since in targets
            )
        )

    def _origin(self) -> str:
        return f"BeaconChannels {self.get_name()}"

    @attribute(
        dtype=(str,),
        max_dim_x=1 << 20,
        doc="The BLISS channels exposed as attributes, in channel-name order.",
    )
    def ChannelNames(self) -> list[str]:
        return self._channel_names()

    def _channel_names(self) -> list[str]:
        return [tango_text(n) for n in self.exposure.channel_names()] if self.exposure else []

    def push_names(self) -> None:
        try:
            self.push_change_event("ChannelNames", self._channel_names())
        except tango.DevFailed as exc:
            log.debug("ChannelNames event: %s", exc.args[0].desc)

    def _counter(self) -> Counters:
        return self.publisher.counters if self.publisher is not None else Counters()

    @attribute(dtype="DevLong64", doc="Channel values received from Redis (all channels).")
    def ValuesReceived(self) -> int:
        return self._counter().values_received

    @attribute(
        dtype="DevLong64", doc="Change and archive events pushed to the Tango clients listening."
    )
    def EventsPushed(self) -> int:
        return self._counter().events_pushed

    @attribute(
        dtype="DevLong64",
        doc="Values superseded by a newer one of their channel before they could be pushed "
        "(the device was not keeping up).",
    )
    def ValuesCoalesced(self) -> int:
        return self._counter().values_coalesced

    @attribute(dtype="DevLong64", doc="Redis messages dropped as undecodable (see the log).")
    def UndecodableMessages(self) -> int:
        return self._counter().undecodable_messages

    # ------------------------------------------------------------------ commands
    @command(
        dtype_in=(str,),
        dtype_out="DevLong",
        doc_in="BLISS object names ([] for every exposed object:key channel)",
        doc_out="number of channels reset",
    )
    def ClearCache(self, names: list[str]) -> int:
        """Set every ``<name>:*`` channel to its configured default, for every holder."""
        exposure = self._require_exposure()
        started = time.time()
        with tango_errors("ClearCache not done", "BeaconChannels.ClearCache"):
            cleared = exposure.clear_cache([client_text(n) for n in names])
        views = [v for n in cleared if (v := exposure.by_channel(n)) is not None]
        with tango.AutoTangoAllowThreads(self):
            _wait_until(  # the cleared values back from Redis...
                lambda: all(
                    (held := v.watch.channel.held) is not None and held.timestamp >= started
                    for v in views
                )
            )
            self._wait_shown(views)  # ... then shown
        return len(cleared)

    @command(
        dtype_in=(str,),
        dtype_out="DevLong",
        doc_in="BLISS axis names ([] for every exposed axis that is moving)",
        doc_out="number of axes asked to stop",
    )
    def StopAxes(self, names: list[str]) -> int:
        """Ask BLISS to stop moves, as a BLISS process stops a move started by another one
        (``axis.<n>.move_stop`` set True). Always allowed: stopping is the safe direction."""
        exposure = self._require_exposure()
        with tango_errors("StopAxes not done", "BeaconChannels.StopAxes"):
            asked = exposure.stop_axes([client_text(n) for n in names])
        log.warning(
            "%s: StopAxes from %s: %s",
            self.get_name(),
            _client(self),
            ", ".join(asked) or "no axis moving",
        )
        return len(asked)

    @command(
        dtype_in=str, dtype_out=(str,), doc_in="a Channels line", doc_out="the channels it opened"
    )
    def AddChannel(self, line: str) -> list[str]:
        exposure = self._require_exposure()
        with tango_errors("AddChannel not done", "BeaconChannels.AddChannel"):
            opened = exposure.add_line(client_text(line))
        # The publisher makes the attributes under the monitor: release it while the holders
        # answer and it does.
        with tango.AutoTangoAllowThreads(self):
            exposure.wait_settled(ADD_WAIT, opened)
        self.update_state()
        return [tango_text(name) for name in opened]

    @command(
        dtype_in=str,
        dtype_out=(str,),
        doc_in="a channel name, a glob line's pattern, or an Axes line's axis or glob",
        doc_out="the attributes removed",
    )
    def RemoveChannel(self, name: str) -> list[str]:
        exposure = self._require_exposure()
        with tango_errors("RemoveChannel not done", "BeaconChannels.RemoveChannel"):
            gone = exposure.remove(self._channel_sent(name))
        when = time.strftime("%H:%M:%S")
        keys = [v.attribute.lower() for v in gone if v.attribute]
        self._retire(
            [k for k in keys if k in self._shown],
            f"its channel was removed (RemoveChannel at {when})",
        )
        self.update_state()
        return [v.attribute for v in gone if v.attribute]

    @command(dtype_in=str, dtype_out=str, doc_in="channel name", doc_out="attribute name")
    def AttributeName(self, channel: str) -> str:
        view = self.exposure.by_channel(self._channel_sent(channel)) if self.exposure else None
        if view is None or not view.named or view.attribute is None:
            why = "is not exposed" if view is None else "has no attribute yet (no value)"
            raise_failed(
                "BeaconChannels_NoChannel",
                f"channel {channel} {why}",
                "BeaconChannels.AttributeName",
            )
        return view.attribute

    @command(dtype_in=str, dtype_out=str, doc_in="attribute name", doc_out="channel name")
    def ChannelName(self, attribute_name: str) -> str:
        view = self.exposure.by_attribute(attribute_name) if self.exposure else None
        if view is None:
            raise_failed(
                "BeaconChannels_NoChannel",
                f"no attribute {attribute_name} shows a channel",
                "BeaconChannels.ChannelName",
            )
        return tango_text(view.name)

    def _channel_sent(self, name: str) -> str:
        """The channel a client named: as sent if exposed, else read as UTF-8 (how a client
        sends a name beyond Latin-1, see tango_text)."""
        exposure = self.exposure
        return name if exposure is not None and exposure.by_channel(name) else client_text(name)

    def _require_exposure(self) -> Exposure:
        if self.exposure is None:
            raise_failed("BeaconChannels_NotReady", self._status, "BeaconChannels")
        return self.exposure

    # ------------------------------------------------------------------ State and Status
    def dev_state(self) -> DevState:
        return self._state

    def dev_status(self) -> str:
        return self._status

    def _compute_state(self) -> tuple[DevState, str]:
        bus, exposure = self.bus, self.exposure
        if bus is None or exposure is None:
            lines = [self._not_running]
            state = DevState.FAULT
        else:
            connection = bus.describe_state()
            lines = [connection[0].upper() + connection[1:] + "."]
            lines += exposure.summary()
            if self._retired:
                lines.append(
                    f"{len(self._retired)} attributes retired (their channels went "
                    "away; a restart drops them)."
                )
            lines += exposure.errors
            lines += self._attribute_errors
            if bus.stats.decode_errors:
                lines.append(
                    f"Undecodable messages dropped: {bus.stats.decode_errors} (the log names "
                    "each channel and why)."
                )
            alarms = sorted(self.publisher.alarms.items()) if self.publisher is not None else []
            for _, (quality, why) in alarms[:ALARM_LINES]:
                lines.append(f"{quality.capitalize()}: {why}.")
            if len(alarms) > ALARM_LINES:
                lines.append(f"... and {len(alarms) - ALARM_LINES} more attributes in alarm.")
            faulty = not bus.connected or exposure.errors or self._attribute_errors
            state = DevState.FAULT if faulty else DevState.ALARM if alarms else DevState.ON
        if self._last_error is not None:
            when, text = self._last_error
            lines.append(f"Last error ({time.strftime('%H:%M:%S', time.localtime(when))}): {text}")
        return state, "\n".join(lines)

    def _error(self, text: str) -> None:
        self._last_error = (time.time(), text)
        log.error("%s: %s", self.get_name(), text)

    def _attribute_error(self, text: str) -> None:
        """A channel left without its attribute: FAULT, and said in Status, until Init."""
        self._attribute_errors.append(text)
        self._error(text)
        self.update_state()

    def _on_connection(self, state: ConnectionState, error: str | None) -> None:
        # In the reader: the publisher pushes State and Status (the exposure wakes it).
        if state is ConnectionState.DISCONNECTED and error:
            self._last_error = (time.time(), error)
        if self.publisher is not None:
            self.publisher.refresh_state_soon()

    def update_state(self) -> None:
        """Compute State and Status and push their events when they change."""
        state, status = self._compute_state()
        changed = (state, status) != (self._state, self._status)
        self._state, self._status = state, status
        self.set_state(state)
        self.set_status(status)
        if not changed:
            return
        try:
            self.push_change_event("State", state)
            self.push_change_event("Status", status)
        except tango.DevFailed as exc:
            log.debug("State event: %s", exc.args[0].desc)


def _wait_until(done: Callable[[], bool], timeout: float = SHOWN_WAIT) -> None:
    """Wait until ``done()`` or ``timeout`` seconds, looking every 2 ms."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.002)


def _client(device: Device) -> str:
    """Who is calling the current command, as Tango tells it (for the log)."""
    try:
        ident = device.get_client_ident()
    except (tango.DevFailed, AttributeError):
        ident = None
    return str(ident) if ident is not None else "an unknown client"


def main(args: list[str] | None = None) -> None:
    """Console script ``BeaconChannels``: the Tango server of that name."""
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.INFO)  # the device's loggers pass DEBUG on, for Tango's levels
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[stderr])
    BeaconChannels.run_server(
        args=sys.argv[1:] if args is None else args, post_init_callback=_post_init
    )


def _post_init() -> None:
    """Once the server runs: its event socket (see :mod:`.event_socket`), and Tango prints
    the log to the console itself with ``-v``."""
    make_event_socket()
    if console_logging_by_tango():
        root = logging.getLogger()
        for handler in list(root.handlers):
            if isinstance(handler, logging.StreamHandler):
                root.removeHandler(handler)


if __name__ == "__main__":
    main()
