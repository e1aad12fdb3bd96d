"""BeaconChannels: a Tango device exposing BLISS channels and axes as attributes.

    BeaconChannels <instance> [Tango options]     (-nodb -dlist ..., -file=..., a database)

The server of that name runs two device classes: this one, and
:class:`~tango_channels_device.beacon_axis.BeaconAxis` (one motor device per BLISS axis). The
device is thin. It declares the properties, the static attributes and the commands, and
delegates to Tango-free pieces (:mod:`tango_channels_device.bridge`): its
:class:`~tango_channels_device.bridge.devices.ChannelsBridge` (its lines, its attribute table)
is served by the server's one :class:`~tango_channels_device.bridge.publisher.Publisher`,
which pushes its events; :mod:`~tango_channels_device.bridge.commands` does what the commands
do; :class:`~tango_channels_device.tango_attributes.TangoAttributes` is the Tango half of the
attributes (made, pushed, read, retired). :class:`~tango_channels_device.bridged.BridgedDevice`
finds Redis, turns library errors into Tango errors, logs who ran what (the audit trail), and
shows State and Status.

Threads and events
------------------
The server runs in PyTango's default synchronous (thread) mode.

- **Reads** are served by omniORB threads from the sample each record shows, without I/O and
  without taking any lock of ours; State and Status are the publisher's last.
- A **bus reader** (one per Redis the server's devices follow) never touches Tango: it hands
  each value, with its own source time, to the records of its channel and wakes the
  publisher.
- The **publisher** thread (``BeaconChannels publisher``, inside ``tango.EnsureOmniThread``),
  one for the whole server, owns everything that follows from Redis: it has the attributes
  of new channels made (under the device monitor), applies alarm limits and event criteria,
  and pushes change, archive and alarm events with strictly increasing timestamps, then State
  and Status. PyTango takes the device monitor itself for each push, in the same order as a
  client read (monitor, then GIL); no lock of ours is held across a push.
- A **survey** thread per Redis asks it, on a connection of its own, which channels globs
  match, how many subscribers each has, and what the settings hashes hold.
- **Commands and writes** run in omniORB threads under the monitor; they ask the publisher
  (and wait for it) with the monitor released (``AutoTangoAllowThreads``): the publisher may
  be waiting for the monitor to push.
- Once the server runs (``post_init``, in the main thread; or the publisher, before the
  first attribute it adds then), the server subscribes itself to its own State events,
  through its admin device, once: cppTango 10.3 would otherwise crash at the first
  attribute added in the ten minutes after a boot (:mod:`.event_socket`).

Log records of the device and the library go to Python's logging (stderr, the journal) and to
the device's Tango logging (:mod:`~tango_channels_device.tango_log`); the audit trail (every
command or write that changes what BLISS sees, with the client's host and process) is the
``BeaconChannels.audit`` logger, at INFO.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

import tango
from tango import DispLevel
from tango.server import attribute, command, device_property, run

from tango_channels.transport.address import RedisAddress

from . import audit
from .beacon_axis import BeaconAxis
from .bridge import commands
from .bridge.devices import ChannelsBridge, Counters
from .bridge.lifecycle import Phase
from .bridge.publisher import Publisher
from .bridged import BridgedDevice
from .errors import raise_failed
from .event_socket import make_event_socket
from .tango_attributes import COUNTER_ATTRIBUTES, TangoAttributes
from .tango_log import console_logging_by_tango
from .tango_types import client_text, tango_text

__all__ = ["STATIC_ATTRIBUTES", "BeaconChannels", "main"]

log = logging.getLogger("BeaconChannels")

STATIC_ATTRIBUTES = ["State", "Status", "ChannelNames", *COUNTER_ATTRIBUTES, "CommandsRun"]


class BeaconChannels(BridgedDevice):
    """BLISS channels (Redis pub/sub, as BLISS shares motor states, cached parameters...) and
    BLISS axes exposed as attributes, with change, archive and alarm events at the source
    timestamp."""

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
    attributes: TangoAttributes

    def first_init(self) -> None:
        self.attributes = TangoAttributes(self)
        for name in STATIC_ATTRIBUTES:
            self.set_change_event(name, True, False)
        for name in ("State", *COUNTER_ATTRIBUTES, "CommandsRun"):
            self.set_archive_event(name, True, False)  # HDB++ archives the device's health
        self.set_alarm_event("State", True, False)

    def make_bridge(self, address: RedisAddress, source: str) -> ChannelsBridge:
        bridge = ChannelsBridge(
            self.get_name(),
            self.attributes,
            address,
            source,
            reserved=STATIC_ATTRIBUTES,
            trusted_modules=self.trusted_modules(),
        )
        self.attributes.bridge = bridge
        return bridge

    def configure(self, publisher: Publisher, bridge: ChannelsBridge, first: bool) -> None:
        bridge.discovery_period = self.DiscoveryPeriod
        bridge.settings_period = self.SettingsPeriod
        why = f"its channel is no longer configured (Init at {time.strftime('%H:%M:%S')})"
        publisher.configure(bridge, list(self.Channels), list(self.Axes), why)

    def configuration(self) -> str:
        return f"{len(self.Channels)} Channels lines, {len(self.Axes)} Axes lines read again"

    def trusted_modules(self) -> tuple[str, ...]:
        return tuple(self.TrustedModules)

    # ------------------------------------------------------------------ reads and writes
    def read_channel(self, attr: tango.Attribute) -> Any:
        return self.attributes.read(attr.get_name())

    def write_channel(self, attr: tango.WAttribute) -> None:
        name = attr.get_name()
        bridge = self.bridge
        record = bridge.by_name.get(name.lower()) if bridge is not None else None
        if record is None or record.phase is not Phase.SHOWN:
            raise_failed(
                "BeaconChannels_NoChannel", f"{name} is no longer exposed", "BeaconChannels.write"
            )
        publisher, bridge = self.running()
        bus = self.bus()
        value = attr.get_write_value()
        # Text beyond Latin-1 comes as its UTF-8 bytes, as it is sent (see tango_text).
        if isinstance(value, str):
            value = client_text(value)
        elif record.kind is not None and record.kind.dtype == "str":
            value = [client_text(v) for v in value]
        self._audit(
            f"write {name} = {audit.shown(value)}",
            lambda: commands.write(bus, publisher, bridge, record, value),
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
        names = self.bridge.names if self.bridge is not None else []
        return [tango_text(n) for n in names]

    def _counters(self) -> Counters:
        return self.bridge.counted if self.bridge is not None else Counters()

    @attribute(
        dtype="DevLong64",
        display_level=DispLevel.EXPERT,
        doc="Channel values received from Redis by the server (all channels of this "
        "device's Redis, whichever device shows them).",
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
        doc="Redis messages dropped as undecodable by the server (see the log).",
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
        return int(self.commands_run)

    # ------------------------------------------------------------------ commands
    @command(
        dtype_in=(str,),
        dtype_out="DevLong",
        doc_in="BLISS object names ([] for every exposed object:key channel)",
        doc_out="number of channels reset",
    )
    def ClearCache(self, names: list[str]) -> int:
        """Set every ``<name>:*`` channel to its configured default, for every holder."""
        publisher, bridge = self.running()
        bus = self.bus()
        objects = [client_text(n) for n in names]
        cleared = self._audit(
            f"ClearCache({objects!r})",
            lambda: commands.clear_cache(bus, publisher, bridge, objects),
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
        publisher, bridge = self.running()
        bus = self.bus()
        axes = [client_text(n) for n in names]
        asked = self._audit(
            f"StopAxes({axes!r})",
            lambda: commands.stop_axes(bus, publisher, bridge, axes),
            lambda done: f"asked {audit.listed(done)} to stop" if done else "no axis moving",
        )
        return len(asked)

    @command(
        dtype_in=str, dtype_out=(str,), doc_in="a Channels line", doc_out="the channels it opened"
    )
    def AddChannel(self, line: str) -> list[str]:
        publisher, bridge = self.running()
        bus = self.bus()
        text = client_text(line)
        opened = self._audit(
            f"AddChannel({text!r})",
            lambda: commands.add_line(bus, publisher, bridge, text),
            lambda done: f"{len(done)} channels exposed ({audit.listed(done)})",
        )
        return [tango_text(name) for name in opened]

    @command(
        dtype_in=str,
        dtype_out=(str,),
        doc_in="a channel name, a glob line's pattern, or an Axes line's axis or glob",
        doc_out="the attributes retired",
    )
    def RemoveChannel(self, name: str) -> list[str]:
        publisher, bridge = self.running()
        channel = self._channel_sent(name)
        why = f"its channel was removed (RemoveChannel at {time.strftime('%H:%M:%S')})"
        return self._audit(
            f"RemoveChannel({channel!r})",
            lambda: commands.remove(publisher, bridge, channel, why),
            lambda done: f"{len(done)} attributes retired ({audit.listed(done)})",
        )

    @command(dtype_in=str, dtype_out=str, doc_in="channel name", doc_out="attribute name")
    def AttributeName(self, channel: str) -> str:
        bridge = self.bridge
        name = self._channel_sent(channel)
        record = bridge.records.get(name) if bridge is not None else None
        if record is None or record.name is None or record.phase is not Phase.SHOWN:
            why = (
                "is not exposed"
                if record is None or record.phase in (Phase.RETIRED, Phase.REFUSED)
                else "has no attribute yet (no value)"
            )
            raise_failed(
                "BeaconChannels_NoChannel",
                f"channel {channel} {why}",
                "BeaconChannels.AttributeName",
            )
        return record.name

    @command(dtype_in=str, dtype_out=str, doc_in="attribute name", doc_out="channel name")
    def ChannelName(self, attribute_name: str) -> str:
        bridge = self.bridge
        record = bridge.by_name.get(attribute_name.lower()) if bridge is not None else None
        if record is None or record.phase is not Phase.SHOWN:
            raise_failed(
                "BeaconChannels_NoChannel",
                f"no attribute {attribute_name} shows a channel",
                "BeaconChannels.ChannelName",
            )
        return tango_text(record.channel)

    def _channel_sent(self, name: str) -> str:
        """The channel a client named: as sent if exposed, else read as UTF-8 (how a client
        sends a name beyond Latin-1, see tango_text)."""
        bridge = self.bridge
        exposed = bridge is not None and name in bridge.records
        return name if exposed else client_text(name)


def main(args: list[str] | None = None) -> None:
    """Console script ``BeaconChannels``: the Tango server of that name, with both classes."""
    stderr = logging.StreamHandler()
    stderr.setLevel(logging.INFO)  # the device's loggers pass DEBUG on, for Tango's levels
    stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[stderr])
    args = sys.argv[1:] if args is None else args
    run(served_classes(args), args=["BeaconChannels", *args], post_init_callback=_post_init)


def served_classes(args: list[str]) -> tuple[type[BridgedDevice], ...]:
    """The device classes the server runs: both, but where its database can't tell a class
    without devices from an error. A file database (``-file=``) fails the start for a class
    it names no device of: there, the classes the file declares devices of (BeaconChannels if
    none). Without a database (``-nodb -dlist``), BeaconChannels, which ``-dlist`` names."""
    if "-nodb" in args:
        return (BeaconChannels,)
    path = next((a.partition("=")[2] for a in args if a.startswith("-file=")), None)
    if path is None or not args:
        return (BeaconChannels, BeaconAxis)
    declared = re.compile(
        rf"^\s*BeaconChannels/{re.escape(args[0])}/DEVICE/(\w+)\s*:", re.IGNORECASE | re.MULTILINE
    )
    try:
        named = {m.lower() for m in declared.findall(Path(path).read_text(errors="replace"))}
    except OSError:
        named = set()  # Tango says what is wrong with the file
    served = tuple(c for c in (BeaconChannels, BeaconAxis) if c.__name__.lower() in named)
    return served or (BeaconChannels,)


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
