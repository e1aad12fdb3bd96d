"""BeaconChannels: a Tango device exposing BLISS channels and axes as attributes.

    BeaconChannels <instance> [Tango options]     (-nodb -dlist ..., -file=..., a database)

The device is thin. It declares the properties, the static attributes and the commands, and
delegates to Tango-free pieces (:mod:`tango_channels_device.bridge`): the
:class:`~tango_channels_device.bridge.publisher.Publisher` owns what is exposed (its
:class:`~tango_channels_device.bridge.catalogue.Catalogue`) and one
:class:`~tango_channels_device.bridge.attribute.AttributeRecord` per attribute, and pushes
their events; :mod:`~tango_channels_device.bridge.commands` does what the commands do;
:class:`~tango_channels_device.tango_attributes.TangoAttributes` is the Tango half of the
attributes (made, pushed, read, retired). This class turns library errors into Tango errors,
logs who ran what (the audit trail), and shows State and Status.

Threads and events
------------------
The server runs in PyTango's default synchronous (thread) mode.

- **Reads** are served by omniORB threads from the sample each record shows, without I/O and
  without taking any lock of ours; State and Status are the publisher's last.
- The **bus reader** (Redis) never touches Tango: it hands each value, with its own source
  time, to the records of its channel and wakes the publisher.
- The **publisher** thread (``BeaconChannels publisher``, inside ``tango.EnsureOmniThread``)
  owns everything that follows from Redis: it has the attributes of new channels made (under
  the device monitor), applies alarm limits and event criteria, and pushes change, archive
  and alarm events with strictly increasing timestamps, then State and Status. PyTango takes
  the device monitor itself for each push, in the same order as a client read (monitor,
  then GIL); no lock of ours is held across a push.
- The **survey** thread asks Redis, on a connection of its own, which channels globs match,
  how many subscribers each has, and what the settings hashes hold.
- **Commands and writes** run in omniORB threads under the monitor; they ask the publisher
  (and wait for it) with the monitor released (``AutoTangoAllowThreads``): the publisher may
  be waiting for the monitor to push. ``delete_device`` stops the publisher the same way.
- Once the server runs (``post_init``, in the main thread; or the publisher, before the
  first attribute it adds then), the server subscribes itself to its own State events,
  through its admin device, once: cppTango 10.3 would otherwise crash at the first
  attribute added in the ten minutes after a boot (:mod:`.event_socket`).
- When Beacon doesn't answer at start, one thread asks it again every ``BEACON_RETRY``
  seconds, then starts the device under the monitor, as ``init_device`` would have;
  ``delete_device`` stops and joins it.

Log records of the device and the library go to Python's logging (stderr, the journal) and to
the device's Tango logging (:mod:`~tango_channels_device.tango_log`); the audit trail (every
command or write that changes what BLISS sees, with the client's host and process) is the
``BeaconChannels.audit`` logger, at INFO.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import tango
from tango import DevState, DispLevel
from tango.server import Device, attribute, command, device_property

from tango_channels import Bus
from tango_channels.transport.address import BeaconError, RedisAddress, ask_beacon, resolve

from . import audit
from .bridge import commands
from .bridge.publisher import Counters, Publisher, Unanswered
from .errors import raise_failed, tango_errors
from .event_socket import make_event_socket
from .tango_attributes import COUNTER_ATTRIBUTES, TangoAttributes
from .tango_log import TangoLog, console_logging_by_tango
from .tango_types import client_text, tango_text

__all__ = ["BeaconChannels", "main"]

log = logging.getLogger("BeaconChannels")

T = TypeVar("T")

STATIC_ATTRIBUTES = ["State", "Status", "ChannelNames", *COUNTER_ATTRIBUTES, "CommandsRun"]
INITIAL_WAIT = 5.0  # seconds init_device waits for the first values (types) of its channels
BEACON_RETRY = 2.0  # seconds between two questions to a Beacon server that did not answer


def _version() -> str:
    try:
        return importlib.metadata.version("tango-channels")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class BeaconChannels(Device):
    """BLISS channels (Redis pub/sub, as BLISS shares motor states, cached parameters...) and
    BLISS axes exposed as attributes, with change, archive and alarm events at the source
    timestamp."""

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
        if not hasattr(self, "attributes"):
            # What survives Init: the attributes (never removed while the server runs), the
            # log handler, the count of commands run.
            self.attributes = TangoAttributes(self)
            self._tango_log = TangoLog(self)
            self._tango_log.attach()
            self.add_version_info("tango-channels", _version())
            self.commands_run = 0
            for name in STATIC_ATTRIBUTES:
                self.set_change_event(name, True, False)
            self.set_alarm_event("State", True, False)
        else:
            self._audit("Init", lambda: None, lambda _: self._configuration())
        self._stopping = threading.Event()
        self._finder: threading.Thread | None = None
        self.publisher: Publisher | None = None
        self.bus: Bus | None = None
        self._not_running("Not running.")
        try:
            redis = self._find_redis()
        except BeaconError as exc:
            # Beacon may just not be up yet (a whole beamline starting): ask again.
            since = time.strftime("%H:%M:%S")
            self._not_running(f"Cannot find Redis since {since}: {exc}; asking again.")
            log.error("%s: cannot find Redis: %s", self.get_name(), exc)
            self._finder = threading.Thread(
                target=self._find_redis_forever, name="BeaconChannels Beacon", daemon=True
            )
            self._finder.start()
            return
        except (ValueError, OSError) as exc:
            self._not_running(f"Cannot find Redis: {exc}. Correct the property, then Init.")
            log.error("%s: cannot find Redis: %s", self.get_name(), exc)
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
        bus = self.bus = Bus(
            redis,
            reader_context=tango.EnsureOmniThread,
            client_name=f"BeaconChannels:{self.get_name()}",
            trusted_modules=tuple(self.TrustedModules),
        )
        publisher = self.publisher = Publisher(
            bus,
            self.attributes,
            reserved_names=STATIC_ATTRIBUTES,
            known=self.attributes.known(),
            before=list(self.attributes.records.values()),  # events go on from them after Init
            discovery_period=self.DiscoveryPeriod,
            settings_period=self.SettingsPeriod,
            thread_context=tango.EnsureOmniThread,
        )
        bus.wait_connected(min(2.0, bus.timeout))
        publisher.start(list(self.Channels), list(self.Axes))
        # The publisher makes the attributes under the monitor: let it have the monitor while
        # the holders answer (their first values decide the types of untyped channels).
        try:
            with tango.AutoTangoAllowThreads(self):
                publisher.wait_settled(INITIAL_WAIT)
                configured = publisher.call(
                    lambda: {r.name.lower() for r in publisher.catalogue.records() if r.name}
                )
            when = time.strftime("%H:%M:%S")
            self.attributes.retire_names(
                [k for k in self.attributes.made if k not in configured],
                f"its channel is no longer configured (Init at {when})",
            )
            with tango.AutoTangoAllowThreads(self):
                state = publisher.call(publisher.refresh_state)
        except Unanswered as exc:  # it goes on by itself; Status will say what it shows
            log.warning("%s: the publisher stayed busy at start (%s)", self.get_name(), exc)
            return
        log.info("%s: %s", self.get_name(), " ".join(state.status.splitlines()))

    def delete_device(self) -> None:
        # The publisher may be waiting for the monitor we hold: let it go while we wait.
        with tango.AutoTangoAllowThreads(self):
            self._stopping.set()
            if self._finder is not None:
                self._finder.join(timeout=10)
            if self.publisher is not None:
                self.publisher.stop()
            if self.bus is not None:
                self.bus.close()

    def _configuration(self) -> str:
        return (
            f"{len(self.Channels)} Channels lines, {len(self.Axes)} Axes lines read again"
        )

    # ------------------------------------------------------------------ reads and writes
    def read_channel(self, attr: tango.Attribute) -> Any:
        return self.attributes.read(attr.get_name())

    def write_channel(self, attr: tango.WAttribute) -> None:
        name = attr.get_name()
        record = self.attributes.records.get(name.lower())
        bus, publisher = self.bus, self.publisher
        if record is None or bus is None or publisher is None:
            raise_failed(
                "BeaconChannels_NoChannel", f"{name} is no longer exposed", "BeaconChannels.write"
            )
        value = attr.get_write_value()
        # Text beyond Latin-1 comes as its UTF-8 bytes, as it is sent (see tango_text).
        if isinstance(value, str):
            value = client_text(value)
        elif record.kind is not None and record.kind.dtype == "str":
            value = [client_text(v) for v in value]
        self._audit(
            f"write {name} = {audit.shown(value)}",
            lambda: commands.write(bus, publisher, record, value),
            lambda _: f"published on channel {record.channel}",
            doing=f"{name} not written (channel {record.channel})",
            origin="BeaconChannels.write",
        )

    @attribute(
        dtype=(str,),
        max_dim_x=1 << 20,
        doc="The BLISS channels exposed as attributes, in channel-name order.",
    )
    def ChannelNames(self) -> list[str]:
        names = self.publisher.names if self.publisher is not None else []
        return [tango_text(n) for n in names]

    def _counters(self) -> Counters:
        return self.publisher.counters if self.publisher is not None else Counters()

    @attribute(
        dtype="DevLong64",
        display_level=DispLevel.EXPERT,
        doc="Channel values received from Redis (all channels).",
    )
    def ValuesReceived(self) -> int:
        return self._counters().values_received

    @attribute(
        dtype="DevLong64",
        display_level=DispLevel.EXPERT,
        doc="Change, archive and alarm events pushed to the Tango clients listening.",
    )
    def EventsPushed(self) -> int:
        return self._counters().events_pushed

    @attribute(
        dtype="DevLong64",
        display_level=DispLevel.EXPERT,
        doc="Values superseded by a newer one of their channel before they could be pushed "
        "(the device was not keeping up).",
    )
    def ValuesCoalesced(self) -> int:
        return self._counters().values_coalesced

    @attribute(
        dtype="DevLong64",
        display_level=DispLevel.EXPERT,
        doc="Redis messages dropped as undecodable (see the log).",
    )
    def UndecodableMessages(self) -> int:
        return self._counters().undecodable_messages

    @attribute(
        dtype="DevLong64",
        display_level=DispLevel.EXPERT,
        doc="Commands and writes run that changed what BLISS sees (ClearCache, StopAxes, "
        "writes, AddChannel, RemoveChannel, Init); the log says who ran each.",
    )
    def CommandsRun(self) -> int:
        return self.commands_run

    # ------------------------------------------------------------------ commands
    @command(
        dtype_in=(str,),
        dtype_out="DevLong",
        doc_in="BLISS object names ([] for every exposed object:key channel)",
        doc_out="number of channels reset",
    )
    def ClearCache(self, names: list[str]) -> int:
        """Set every ``<name>:*`` channel to its configured default, for every holder."""
        bus, publisher = self._running()
        objects = [client_text(n) for n in names]
        cleared = self._audit(
            f"ClearCache({objects!r})",
            lambda: commands.clear_cache(bus, publisher, objects),
            lambda done: f"{len(done)} channels reset to their defaults ({audit.listed(done)})",
        )
        return len(cleared)

    @command(
        dtype_in=(str,),
        dtype_out="DevLong",
        doc_in="BLISS axis names ([] for every exposed axis that is moving)",
        doc_out="number of axes asked to stop",
    )
    def StopAxes(self, names: list[str]) -> int:
        """Ask BLISS to stop moves, as a BLISS process stops a move started by another one
        (``axis.<n>.move_stop`` set True)."""
        bus, publisher = self._running()
        axes = [client_text(n) for n in names]
        asked = self._audit(
            f"StopAxes({axes!r})",
            lambda: commands.stop_axes(bus, publisher, axes),
            lambda done: f"asked {audit.listed(done)} to stop" if done else "no axis moving",
        )
        return len(asked)

    @command(
        dtype_in=str, dtype_out=(str,), doc_in="a Channels line", doc_out="the channels it opened"
    )
    def AddChannel(self, line: str) -> list[str]:
        bus, publisher = self._running()
        text = client_text(line)
        opened = self._audit(
            f"AddChannel({text!r})",
            lambda: commands.add_line(bus, publisher, text),
            lambda done: f"{len(done)} channels exposed ({audit.listed(done)})",
        )
        return [tango_text(name) for name in opened]

    @command(
        dtype_in=str,
        dtype_out=(str,),
        doc_in="a channel name, a glob line's pattern, or an Axes line's axis or glob",
        doc_out="the attributes removed",
    )
    def RemoveChannel(self, name: str) -> list[str]:
        _, publisher = self._running()
        channel = self._channel_sent(name)
        why = f"its channel was removed (RemoveChannel at {time.strftime('%H:%M:%S')})"
        return self._audit(
            f"RemoveChannel({channel!r})",
            lambda: commands.remove(publisher, channel, why),
            lambda done: f"{len(done)} attributes retired ({audit.listed(done)})",
        )

    @command(dtype_in=str, dtype_out=str, doc_in="channel name", doc_out="attribute name")
    def AttributeName(self, channel: str) -> str:
        publisher = self.publisher
        record = publisher.catalogue.by_channel(self._channel_sent(channel)) if publisher else None
        if record is None or not record.named or record.name is None:
            why = "is not exposed" if record is None else "has no attribute yet (no value)"
            raise_failed(
                "BeaconChannels_NoChannel",
                f"channel {channel} {why}",
                "BeaconChannels.AttributeName",
            )
        return record.name

    @command(dtype_in=str, dtype_out=str, doc_in="attribute name", doc_out="channel name")
    def ChannelName(self, attribute_name: str) -> str:
        publisher = self.publisher
        record = publisher.catalogue.by_attribute(attribute_name) if publisher else None
        if record is None:
            raise_failed(
                "BeaconChannels_NoChannel",
                f"no attribute {attribute_name} shows a channel",
                "BeaconChannels.ChannelName",
            )
        return tango_text(record.channel)

    def _channel_sent(self, name: str) -> str:
        """The channel a client named: as sent if exposed, else read as UTF-8 (how a client
        sends a name beyond Latin-1, see tango_text)."""
        publisher = self.publisher
        exposed = publisher is not None and publisher.catalogue.feed(name) is not None
        return name if exposed else client_text(name)

    def _running(self) -> tuple[Bus, Publisher]:
        if self.bus is None or self.publisher is None:
            raise_failed("BeaconChannels_NotReady", self.dev_status(), "BeaconChannels")
        return self.bus, self.publisher

    def _audit(
        self,
        what: str,
        action: Callable[[], T],
        said: Callable[[T], str],
        doing: str = "",
        origin: str = "",
    ) -> T:
        """Run ``action`` (with the monitor released: it may wait for the publisher), turn
        its errors into DevFailed, and log once, at INFO, who ran ``what`` and what it did
        (``said(result)``) or why it was refused: the audit trail."""
        command_name = what.partition("(")[0].partition(" ")[0]
        doing = doing or f"{command_name} not done"
        origin = origin or f"BeaconChannels.{command_name}"
        client = audit.client_of(self)
        try:
            with tango_errors(doing, origin), tango.AutoTangoAllowThreads(self):
                result = action()
        except tango.DevFailed as exc:
            audit.log.info("%s from %s refused: %s", what, client, exc.args[0].desc)
            raise
        self.commands_run += 1
        self.push_change_event("CommandsRun", self.commands_run)
        audit.log.info("%s from %s: %s", what, client, said(result))
        return result

    # ------------------------------------------------------------------ State and Status
    def dev_state(self) -> DevState:
        state: DevState = self.get_state()  # as the publisher set it: no attribute is read
        return state

    def dev_status(self) -> str:
        return str(self.get_status())

    def _not_running(self, why: str) -> None:
        """FAULT, saying why: before the publisher runs, nothing else sets State."""
        self.set_state(DevState.FAULT)
        self.set_status(why)
        self.push_change_event("State", DevState.FAULT)
        self.push_change_event("Status", why)


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
