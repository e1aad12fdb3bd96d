"""BeaconChannels: a Tango device exposing BLISS channels as attributes.

    BeaconChannels <instance> [Tango options]     (-nodb -dlist ..., -file=..., a database)

The device is thin: :class:`tango_channels.bridge.exposure.Exposure` (Tango-free) opens the channels
named by the ``Channels`` property, decides their kinds and attribute names and computes their
samples; this class creates the attributes, pushes their events, and turns library errors into
Tango errors, State and Status.

Threads and events
------------------
The server runs in PyTango's default synchronous (thread) mode: reads are served by omniORB
threads from a cache, without I/O and without taking any lock of ours. Change and archive
events are pushed with the channel value's source timestamp by the bus reader thread (once
per batch of Redis messages, latest value only), which runs inside ``tango.EnsureOmniThread``.
Pushing from that thread is safe: PyTango releases the GIL and takes the device monitor itself
for each push, in the same order as a client read (monitor, then GIL). We never hold a lock of
ours across a push. Writes and commands push from their own omniORB thread. Attributes are
added under the device monitor; joins in ``delete_device`` release it first
(``AutoTangoAllowThreads``), as the reader may be waiting for it. When Beacon doesn't answer
at start, one thread asks it again every ``BEACON_RETRY`` seconds, then starts the device under
the monitor, as ``init_device`` would have; ``delete_device`` stops and joins it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import tango
from tango import AttrQuality, DevState
from tango.server import Device, attribute, command, device_property

from tango_channels import Bus, ConnectionState
from tango_channels.bridge.exposure import Exposed, Exposure
from tango_channels.bridge.kinds import Mismatch
from tango_channels.bridge.lines import LineError
from tango_channels.transport.address import BeaconError, RedisAddress, ask_beacon, resolve
from tango_channels_device.tango_types import TangoType, client_text, tango_text, tango_type

__all__ = ["BeaconChannels", "main"]

log = logging.getLogger("BeaconChannels")

STATIC_ATTRIBUTES = ["State", "Status", "ChannelNames"]
_NO_VALUE: Any = object()  # in the read cache: no value yet (the read says why)
INITIAL_WAIT = 5.0  # seconds init_device waits for the first values (types) of its channels
ADD_WAIT = 2.0  # the same for AddChannel (within a client's default 3 s timeout)
BEACON_RETRY = 2.0  # seconds between two questions to a Beacon server that did not answer


def _dev_failed(reason: str, description: str, origin: str) -> tango.DevFailed:
    try:
        tango.Except.throw_exception(reason, description, origin)
    except tango.DevFailed as exc:
        return exc
    raise AssertionError("unreachable")


class BeaconChannels(Device):
    """BLISS channels (Redis pub/sub, as BLISS shares motor states, cached parameters...)
    exposed as attributes, with change and archive events at the source timestamp."""

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
        "[default=<JSON>] [unit=] [format=] [label=] [description=]",
    )
    TrustedModules = device_property(
        dtype=(str,),
        default_value=["bliss."],
        doc="Module prefixes of the classes (AxisState, enums...) whose values this device "
        "re-sends to BLISS processes that ask for them.",
    )
    DiscoveryPeriod = device_property(
        dtype=float,
        default_value=2.0,
        doc="Seconds between two looks for new channels matching the globs.",
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
            self._shown: dict[str, tuple[str, str, str]] = {}  # -> (attribute, channel, kind)
            self._retired: dict[str, str] = {}  # attribute (lower case) -> why
            self._entries: dict[str, Exposed] = {}
        # attribute (lower case) -> (value, timestamp, quality, error for readers)
        self._cache: dict[str, tuple[Any, float, AttrQuality, Any]] = {}
        self._started = time.time()
        self._last_error: tuple[float, str] | None = None
        # What keeps the device from running (no Redis yet), and what went wrong with its
        # attributes: both are FAULT, until they go (the first) or until Init (the second).
        self._not_running = "Not running."
        self._attribute_errors: list[str] = []
        self._stopping = threading.Event()
        self._finder: threading.Thread | None = None
        self.bus: Bus | None = None
        self.exposure: Exposure | None = None
        self.set_change_event("State", True, False)
        self.set_change_event("Status", True, False)
        self.set_change_event("ChannelNames", True, False)
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
            return
        except (ValueError, OSError) as exc:
            self._not_running = f"Cannot find Redis: {exc}. Correct the property, then Init."
            self._error(f"cannot find Redis: {exc}")
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
        """Connect to Redis and expose the configured channels (under the device monitor)."""
        self.bus = Bus(
            redis,
            reader_context=tango.EnsureOmniThread,
            client_name=f"BeaconChannels:{self.get_name()}",
            trusted_modules=tuple(self.TrustedModules),
        )
        known = {channel: (attr, kind) for attr, channel, kind in self._shown.values()}
        self.exposure = Exposure(
            self.bus,
            self,
            reserved_names=STATIC_ATTRIBUTES,
            known=known,
            discovery_period=self.DiscoveryPeriod,
            thread_context=tango.EnsureOmniThread,
        )
        self.bus.add_state_listener(self._on_connection)
        self.bus.wait_connected(min(2.0, self.bus.timeout))
        self.exposure.configure(list(self.Channels))
        # Channels without type= get their attribute with their first value, created by the
        # reader under the monitor: let it have the monitor while we wait for those values.
        with tango.AutoTangoAllowThreads(self):
            self.exposure.wait_settled(INITIAL_WAIT)
        when = time.strftime("%H:%M:%S")
        self._retire(
            [k for k in self._types if k not in self._entries],
            f"its channel is no longer configured (Init at {when})",
        )
        self._update_state()
        log.info("%s: %s", self.get_name(), self.dev_status().replace("\n", "; "))

    def delete_device(self) -> None:
        # The reader may be waiting for the monitor we hold: let it go while we wait for it.
        with tango.AutoTangoAllowThreads(self):
            self._stopping.set()
            if self._finder is not None:
                self._finder.join(timeout=10)
            if self.exposure is not None:
                self.exposure.stop()
            if self.bus is not None:
                self.bus.close()
        self._entries = {}

    # ------------------------------------------------------------------ Exposure listener
    def expose(self, entries: list[Exposed]) -> None:
        """Create (or reuse, after Init) the attributes of newly exposed channels."""
        for attempt in range(10):
            try:
                with tango.AutoTangoMonitor(self):
                    self._expose(entries)
                break
            except tango.DevFailed as exc:  # the monitor stayed busy past its timeout
                log.warning("creating attributes, attempt %d: %s", attempt + 1, exc.args[0].desc)
        else:
            names = ", ".join(e.name for e in entries[:3]) + (", ..." if len(entries) > 3 else "")
            self._attribute_error(
                f"no attribute for {len(entries)} channels ({names}): the device stayed busy "
                "while creating them; run Init"
            )
        self.publish(entries)
        self._push_names()

    def _expose(self, entries: list[Exposed]) -> None:
        for entry in entries:
            assert entry.kind is not None and entry.attribute is not None
            key = entry.attribute.lower()
            wanted = tango_type(entry.kind)
            existing = self._types.get(key)
            if existing is not None and existing.signature != wanted.signature:
                self._attribute_error(
                    f"channel {entry.name} is now {entry.kind}, but attribute "
                    f"{entry.attribute} has another type: restart the server to "
                    "change it"
                )
                continue
            if existing is None:
                try:
                    self._create_attribute(entry, wanted)
                except tango.DevFailed as exc:
                    self._attribute_error(
                        f"cannot create attribute {entry.attribute} for channel "
                        f"{entry.name}: {exc.args[0].desc}"
                    )
                    continue
            self._types[key] = wanted
            self._shown[key] = (entry.attribute, entry.name, str(entry.kind))
            self._retired.pop(key, None)
            self._entries[key] = entry

    def _create_attribute(self, entry: Exposed, ttype: TangoType) -> None:
        spec = entry.spec
        attr = ttype.make_attr(entry.attribute, entry.writable)
        props = tango.UserDefaultAttrProp()
        props.set_label(spec.label or entry.name)
        description = f"BLISS channel {entry.name}"
        if spec.description:
            description = f"{spec.description} (BLISS channel {entry.name})"
        props.set_description(description)
        if spec.unit:
            props.set_unit(spec.unit)
        if spec.format:
            props.set_format(spec.format)
        if entry.kind.name == "enum":
            props.set_enum_labels(list(entry.kind.labels))
        attr.set_default_properties(props)
        attr.set_change_event(True, False)
        attr.set_archive_event(True, False)
        self.add_attribute(
            attr,
            r_meth=self.read_channel,
            w_meth=self.write_channel if entry.writable else None,
        )

    def publish(self, entries: list[Exposed]) -> None:
        """Cache the samples of ``entries`` for reads and push their events."""
        for entry in entries:
            key = entry.attribute.lower() if entry.attribute else None
            ttype = self._types.get(key) if key else None
            if ttype is None or self._entries.get(key) is not entry:
                continue
            sample = entry.sample
            if sample.error is not None:
                failed = _dev_failed(
                    "BeaconChannels_ValueError", sample.error, f"BeaconChannels {self.get_name()}"
                )
                self._cache[key] = (
                    ttype.placeholder(),
                    sample.timestamp,
                    AttrQuality.ATTR_INVALID,
                    failed,
                )
                self._push(entry.attribute, failed)
                continue
            failed = None
            if sample.value is None:
                value, quality = ttype.placeholder(), AttrQuality.ATTR_INVALID
                if sample.missing:  # a read says why (see read_channel); events: INVALID
                    failed = _NO_VALUE
            else:
                value = ttype.to_tango(sample.value)
                quality = AttrQuality.ATTR_VALID if sample.valid else AttrQuality.ATTR_INVALID
            self._cache[key] = (value, sample.timestamp, quality, failed)
            self._push(entry.attribute, value, sample.timestamp, quality)

    def _push(self, name: str, *event: Any) -> None:
        try:
            self.push_change_event(name, *event)
            self.push_archive_event(name, *event)
        except tango.DevFailed as exc:  # e.g. the monitor busy past its timeout
            self._error(f"pushing an event of {name}: {exc.args[0].desc}")

    def retire(self, entries: list[Exposed]) -> None:
        when = time.strftime("%H:%M:%S")
        self._retire(
            [e.attribute.lower() for e in entries if e.attribute],
            f"its channel was removed (RemoveChannel at {when})",
        )

    def _retire(self, keys: list[str], why: str) -> None:
        for key in keys:
            attribute, channel, _ = self._shown[key]
            reason = self._retired.get(key) or (  # retired before: it still says why
                f"attribute {attribute} no longer shows channel {channel}: {why}; "
                "it goes away when the server restarts"
            )
            self._retired[key] = reason
            self._entries.pop(key, None)
            failed = _dev_failed(
                "BeaconChannels_Retired", reason, f"BeaconChannels {self.get_name()}"
            )
            self._cache[key] = (None, time.time(), AttrQuality.ATTR_INVALID, failed)
            self._push(attribute, failed)
        if keys:
            self._push_names()

    # ------------------------------------------------------------------ reads and writes
    def read_channel(self, attr: tango.Attribute) -> Any:
        value, timestamp, quality, failed = self._cache.get(
            attr.get_name().lower(), (None, 0.0, AttrQuality.ATTR_INVALID, None)
        )
        if failed is _NO_VALUE:  # why, as of now: it changes as holders answer
            entry = self._entries.get(attr.get_name().lower())
            channel = entry.name if entry is not None else attr.get_name()
            why = entry.channel.why_no_value() if entry is not None else "not exposed"
            tango.Except.throw_exception(
                "BeaconChannels_NoValue",
                f"channel {channel} has no value yet ({why})",
                f"BeaconChannels {self.get_name()}",
            )
        if failed is not None:
            # A new exception for each read: raising the cached one again would lengthen its
            # traceback at every read, for as long as a client polls it.
            error = failed.args[0]
            tango.Except.throw_exception(error.reason, error.desc, error.origin)
        if value is None:  # created a moment ago, no sample cached yet
            ttype = self._types[attr.get_name().lower()]
            return ttype.placeholder(), time.time(), AttrQuality.ATTR_INVALID
        return value, timestamp, quality

    def write_channel(self, attr: tango.WAttribute) -> None:
        entry = self._entries.get(attr.get_name().lower())
        if entry is None or self.exposure is None:
            tango.Except.throw_exception(
                "BeaconChannels_NoChannel",
                f"{attr.get_name()} is no longer exposed",
                "BeaconChannels.write",
            )
        value = attr.get_write_value()
        # Text beyond Latin-1 comes as its UTF-8 bytes, as it is sent (see tango_text).
        if isinstance(value, str):
            value = client_text(value)
        elif entry.kind is not None and entry.kind.dtype == "str":
            value = [client_text(v) for v in value]
        try:
            self.exposure.write(entry, value)
        except Mismatch as exc:
            tango.Except.throw_exception(
                "BeaconChannels_WrongValue",
                f"cannot write {attr.get_name()} (channel {entry.name}): {exc}",
                "BeaconChannels.write",
            )
        except (ConnectionError, TimeoutError, OSError) as exc:
            tango.Except.throw_exception(
                "BeaconChannels_RedisUnreachable",
                f"{attr.get_name()} not written, channel {entry.name}: {exc}",
                "BeaconChannels.write",
            )

    @attribute(
        dtype=(str,),
        max_dim_x=1 << 20,
        doc="The BLISS channels exposed as attributes, in channel-name order.",
    )
    def ChannelNames(self) -> list[str]:
        return self._channel_names()

    def _channel_names(self) -> list[str]:
        return [tango_text(e.name) for e in self.exposure.entries()] if self.exposure else []

    def _push_names(self) -> None:
        try:
            self.push_change_event("ChannelNames", self._channel_names())
        except tango.DevFailed as exc:
            log.debug("ChannelNames event: %s", exc.args[0].desc)

    # ------------------------------------------------------------------ commands
    @command(
        dtype_in=(str,),
        dtype_out="DevLong",
        doc_in="BLISS object names ([] for every exposed object:key channel)",
        doc_out="number of channels reset",
    )
    def ClearCache(self, names: list[str]) -> int:
        """Set every ``<name>:*`` channel to its configured default, for every holder."""
        self._require_exposure()
        try:
            return self.exposure.clear_cache([client_text(n) for n in names])
        except (ConnectionError, TimeoutError, OSError) as exc:
            tango.Except.throw_exception(
                "BeaconChannels_RedisUnreachable",
                f"ClearCache not done: {exc}",
                "BeaconChannels.ClearCache",
            )

    @command(
        dtype_in=str, dtype_out=(str,), doc_in="a Channels line", doc_out="the channels it opened"
    )
    def AddChannel(self, line: str) -> list[str]:
        self._require_exposure()
        try:
            opened = self.exposure.add_line(client_text(line))
        except LineError as exc:
            tango.Except.throw_exception(
                "BeaconChannels_BadLine", str(exc), "BeaconChannels.AddChannel"
            )
        # Untyped channels get their attribute with their first value, created by the reader
        # under the monitor: release it while their holders answer.
        with tango.AutoTangoAllowThreads(self):
            self.exposure.wait_settled(ADD_WAIT, opened)
        self._update_state()
        return [tango_text(name) for name in opened]

    @command(
        dtype_in=str,
        dtype_out=(str,),
        doc_in="a channel name, or a glob line's pattern",
        doc_out="the attributes removed",
    )
    def RemoveChannel(self, name: str) -> list[str]:
        self._require_exposure()
        try:
            gone = self.exposure.remove(self._channel_sent(name))
        except KeyError as exc:
            tango.Except.throw_exception(
                "BeaconChannels_NoChannel", str(exc.args[0]), "BeaconChannels.RemoveChannel"
            )
        self._update_state()
        return [e.attribute for e in gone if e.attribute]

    @command(dtype_in=str, dtype_out=str, doc_in="channel name", doc_out="attribute name")
    def AttributeName(self, channel: str) -> str:
        entry = self.exposure.by_channel(self._channel_sent(channel)) if self.exposure else None
        if entry is None or entry.attribute is None:
            why = "is not exposed" if entry is None else "has no attribute yet (no value)"
            tango.Except.throw_exception(
                "BeaconChannels_NoChannel",
                f"channel {channel} {why}",
                "BeaconChannels.AttributeName",
            )
        return entry.attribute

    @command(dtype_in=str, dtype_out=str, doc_in="attribute name", doc_out="channel name")
    def ChannelName(self, attribute_name: str) -> str:
        entry = self.exposure.by_attribute(attribute_name) if self.exposure else None
        if entry is None:
            tango.Except.throw_exception(
                "BeaconChannels_NoChannel",
                f"no attribute {attribute_name} shows a channel",
                "BeaconChannels.ChannelName",
            )
        return tango_text(entry.name)

    def _channel_sent(self, name: str) -> str:
        """The channel a client named: as sent if exposed, else read as UTF-8 (how a client
        sends a name beyond Latin-1, see tango_text)."""
        return name if self.exposure.by_channel(name) else client_text(name)

    def _require_exposure(self) -> None:
        if self.exposure is None:
            tango.Except.throw_exception(
                "BeaconChannels_NotReady", self.dev_status(), "BeaconChannels"
            )

    # ------------------------------------------------------------------ State and Status
    def dev_state(self) -> DevState:
        bus, exposure = self.bus, self.exposure
        if bus is None or exposure is None or not bus.connected or exposure.errors:
            return DevState.FAULT
        return DevState.FAULT if self._attribute_errors else DevState.ON

    def dev_status(self) -> str:
        bus, exposure = self.bus, self.exposure
        if bus is None or exposure is None:
            lines = [self._not_running]
        else:
            connection = bus.describe_state()
            lines = [connection[0].upper() + connection[1:] + "."]
            exposed, pending = exposure.entries(), exposure.pending()
            count = f"{len(exposed)} channels exposed as attributes"
            if pending:
                names = ", ".join(e.name for e in pending[:5]) + (
                    ", ..." if len(pending) > 5 else ""
                )
                count += f"; {len(pending)} waiting for a first value to set their type ({names})"
            lines.append(count + ".")
            missing = [e for e in exposed if e.sample.missing]
            if missing:
                names = ", ".join(e.name for e in missing[:5]) + (
                    ", ..." if len(missing) > 5 else ""
                )
                lines.append(
                    f"{len(missing)} channels have no value yet ({names}): "
                    f"{missing[0].channel.why_no_value()}."
                )
            errors = [e for e in exposed if e.sample.error]
            if errors:
                lines.append(
                    f"{len(errors)} channels with a value error, e.g. {errors[0].sample.error}."
                )
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
        if self._last_error is not None:
            when, text = self._last_error
            lines.append(f"Last error ({time.strftime('%H:%M:%S', time.localtime(when))}): {text}")
        return "\n".join(lines)

    def _error(self, text: str) -> None:
        self._last_error = (time.time(), text)
        log.error("%s: %s", self.get_name(), text)

    def _attribute_error(self, text: str) -> None:
        """A channel left without its attribute: FAULT, and said in Status, until Init."""
        self._attribute_errors.append(text)
        self._error(text)
        self._update_state()

    def _on_connection(self, state: ConnectionState, error: str | None) -> None:
        if state is ConnectionState.DISCONNECTED and error:
            self._last_error = (time.time(), error)
        self._update_state()

    def _update_state(self) -> None:
        """Store State and Status (State events carry the stored state) and push them."""
        state, status = self.dev_state(), self.dev_status()
        self.set_state(state)
        self.set_status(status)
        try:
            self.push_change_event("State", state)
            self.push_change_event("Status", status)
        except tango.DevFailed as exc:
            log.debug("State event: %s", exc.args[0].desc)


def main(args: list[str] | None = None) -> None:
    """Console script ``BeaconChannels``: the Tango server of that name."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    BeaconChannels.run_server(args=sys.argv[1:] if args is None else args)


if __name__ == "__main__":
    main()
