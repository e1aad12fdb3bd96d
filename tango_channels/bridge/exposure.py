"""Channels exposed as named, typed samples: everything the Tango device needs, minus Tango.

:class:`Exposure` is the device's component manager. Given a :class:`~tango_channels.bus.Bus`
and the ``Channels`` lines, it opens one *mirror* channel per configured name (it reflects what
BLISS processes hold and never makes a value up), finds the live channels that globs match
(``PUBSUB CHANNELS``, now and every ``discovery_period`` seconds), decides each channel's
:class:`~tango_channels.bridge.kinds.Kind` (from ``type=`` or its first value), names its attribute
(:mod:`tango_channels.bridge.naming`) and keeps its latest :class:`Sample`. It tells a
:class:`Listener` (the device) what to create and what to publish.

Threads: samples are computed and published in the bus reader, once per batch of messages,
so that only the latest value of a channel is published when values come faster than they can
be forwarded. Writes and ``clear_cache`` publish from the caller's thread. New channels can be
exposed from the reader (first value), the discovery thread (typed globs) or the caller
(``add_line``). The listener's methods are called outside of this object's lock.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..bus import Bus, ConnectionState
from ..channel import Channel
from ..wire.messages import ValueMessage
from .kinds import Kind, Mismatch, infer_kind
from .lines import ChannelSpec, LineError, parse_line, parse_lines
from .naming import AttributeNamer, NameTaken

__all__ = ["Exposed", "Exposure", "Listener", "Sample"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """What an attribute shows: a value of its kind, the source timestamp, and whether to
    trust it. ``error`` (a value that doesn't fit, an undecodable message) is an error for
    readers; ``note`` says why a sample without error is not valid (no value yet, the value is
    None, Redis unreachable); ``missing`` marks "no value yet", which readers are told."""

    value: Any
    timestamp: float
    valid: bool
    error: str | None = None
    note: str | None = None
    missing: bool = False


class Exposed:
    """One channel and the attribute that shows it."""

    def __init__(self, exposure: Exposure, name: str, spec: ChannelSpec) -> None:
        self.name = name
        self.spec = spec
        self.kind: Kind | None = spec.kind
        self.attribute: str | None = None
        self.decode_error: str | None = None
        self.sample = Sample(None, time.time(), False, note="no value yet")
        self.shown = False  # its attribute exists: the listener has exposed it
        self._exposure = exposure
        # The callback goes in with the channel: the first value can come back (in the reader)
        # before the constructor returns, and nothing would mark it to be shown.
        self.channel = Channel(name, bus=exposure.bus, mirror=True, callback=self.on_value)

    @property
    def writable(self) -> bool:
        return self.spec.writable

    def on_value(self, value: Any) -> None:
        # Callbacks of received values run in the reader; local sets are published by the
        # method that made them (write, clear_cache), in their own thread.
        if self._exposure.bus.in_reader():
            self.decode_error = None
            self._exposure._dirty.add(self.name)

    def __repr__(self) -> str:
        return f"<Exposed {self.name!r} as {self.attribute} ({self.kind})>"


class Listener(Protocol):
    """What :class:`Exposure` tells its owner (the device)."""

    def expose(self, entries: list[Exposed]) -> None:
        """Create the attributes of ``entries`` (kind and attribute name are known)."""

    def publish(self, entries: list[Exposed]) -> None:
        """``entries`` have a new :attr:`Exposed.sample`."""

    def retire(self, entries: list[Exposed]) -> None:
        """``entries`` are no longer exposed."""


class Exposure:
    """The channels of one device (see the module docstring)."""

    def __init__(
        self,
        bus: Bus,
        listener: Listener,
        reserved_names: list[str],
        known: dict[str, tuple[str, str]] | None = None,
        discovery_period: float = 2.0,
        thread_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.bus = bus
        self.listener = listener
        self.discovery_period = discovery_period
        self._thread_context = thread_context or contextlib.nullcontext
        self._lock = threading.RLock()
        self._entries: dict[str, Exposed] = {}
        self._by_attribute: dict[str, Exposed] = {}
        self._globs: list[ChannelSpec] = []
        self._removed: set[str] = set()  # glob matches removed by hand: not rediscovered
        # Attributes that already exist (a previous configuration, or channels removed):
        # channel -> (attribute, kind). Their names stay taken; a channel coming back with
        # the same kind gets its attribute back.
        self._known = dict(known or {})
        self._namer = AttributeNamer([*reserved_names, *(a for a, _ in self._known.values())])
        self._dirty: set[str] = set()
        self.line_errors: list[str] = []
        self.runtime_errors: list[str] = []
        self._stopped = threading.Event()
        self._discovery: threading.Thread | None = None
        bus.after_batch(self._flush)
        bus.add_state_listener(self._on_state)
        bus.add_decode_error_listener(self._on_decode_error)

    # ------------------------------------------------------------------ set-up
    def configure(self, lines: list[str]) -> None:
        """Open every configured channel and start discovering glob matches."""
        specs, self.line_errors = parse_lines(lines)
        for spec in specs:
            if spec.is_glob:
                self._globs.append(spec)
        _, refused = self._open_many([(s.pattern, s) for s in specs if not s.is_glob])
        self.runtime_errors += refused
        self._discover_once()
        if self._globs:
            self._discovery = threading.Thread(
                target=self._discover_forever, name="tango-channels discovery", daemon=True
            )
            self._discovery.start()

    def stop(self) -> None:
        """Close every channel; the bus stays open (it belongs to the caller)."""
        self._stopped.set()
        if self._discovery is not None:
            self._discovery.join(timeout=5)
        self.bus.remove_state_listener(self._on_state)
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            self._by_attribute.clear()
        for entry in entries:
            entry.channel.close()

    # ------------------------------------------------------------------ queries
    def entries(self) -> list[Exposed]:
        """Exposed channels (with an attribute), in channel-name order."""
        with self._lock:
            return sorted((e for e in self._entries.values() if e.attribute), key=lambda e: e.name)

    def pending(self) -> list[Exposed]:
        """Channels still waiting for a first value to decide their type."""
        with self._lock:
            return sorted(
                (e for e in self._entries.values() if not e.attribute), key=lambda e: e.name
            )

    def settled(self, names: list[str] | None = None) -> bool:
        """Whether the channels (all, or ``names``) have their first answer: a value, or
        nobody holding one."""
        with self._lock:
            entries = (
                [self._entries[n] for n in names if n in self._entries]
                if names
                else list(self._entries.values())
            )
        return all(self._settled(e) for e in entries)

    @staticmethod
    def _settled(entry: Exposed) -> bool:
        # Settled is shown: a channel without type= whose first value came is settled once
        # the reader has made its attribute (AttributeName answers, reads work).
        if not entry.channel.settled:
            return False
        return entry.shown or (entry.kind is None and _kind_of(entry.channel.held) is None)

    def wait_settled(self, timeout: float, names: list[str] | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while not self.settled(names):
            if time.monotonic() > deadline or not self.bus.connected:
                return False
            time.sleep(0.01)
        return True

    def by_channel(self, name: str) -> Exposed | None:
        return self._entries.get(name)

    def by_attribute(self, attribute: str) -> Exposed | None:
        return self._by_attribute.get(attribute.lower())

    @property
    def errors(self) -> list[str]:
        return self.line_errors + self.runtime_errors

    # ------------------------------------------------------------------ changes
    def add_line(self, line: str) -> list[str]:
        """Expose what one more ``Channels`` line says; returns the channel names opened.

        Raises :class:`~tango_channels.bridge.lines.LineError` (bad line, or a channel already
        exposed) without changing anything.
        """
        spec = parse_line(line)
        if spec is None:
            raise LineError("empty line")
        if spec.is_glob:
            with self._lock:
                if any(g.pattern == spec.pattern for g in self._globs):
                    raise LineError(f"{spec.pattern!r} is already configured")
                self._globs.append(spec)
            if self._discovery is None:
                self._discovery = threading.Thread(
                    target=self._discover_forever, name="tango-channels discovery", daemon=True
                )
                self._discovery.start()
            return self._discover_once([spec])
        if spec.pattern in self._entries:
            raise LineError(f"channel {spec.pattern!r} is already exposed")
        self._removed.discard(spec.pattern)
        opened, refused = self._open_many([(spec.pattern, spec)])
        if refused:  # the caller is told; the device's configuration is still sound
            raise LineError(refused[0])
        return opened

    def remove(self, name: str) -> list[Exposed]:
        """Stop exposing channel ``name``, or every channel of glob ``name``."""
        with self._lock:
            globs = [g for g in self._globs if g.pattern == name]
            if globs:
                self._globs.remove(globs[0])
                gone = [e for e in self._entries.values() if e.spec is globs[0]]
            elif name in self._entries:
                gone = [self._entries[name]]
            else:
                raise KeyError(f"no exposed channel or glob {name!r}")
            for entry in gone:
                del self._entries[entry.name]
                if entry.attribute:
                    self._by_attribute.pop(entry.attribute.lower(), None)
                    self._known[entry.name] = (entry.attribute, str(entry.kind))
                if entry.spec.is_glob:
                    self._removed.add(entry.name)
        for entry in gone:
            entry.channel.close()
        self.listener.retire(gone)
        return gone

    def write(self, entry: Exposed, client_value: Any) -> None:
        """Publish a value a client wrote; raises ``PermissionError``,
        :class:`~tango_channels.bridge.kinds.Mismatch` or ``ConnectionError`` saying why not."""
        if not entry.writable or entry.kind is None:
            raise PermissionError(f"{entry.name} is read-only (its line has no access=rw)")
        self._set(entry, entry.kind.from_client(client_value))

    def clear_cache(self, objects: list[str]) -> int:
        """BLISS's ``clear_cache`` across processes: every ``<object>:*`` channel (exposed, or
        live on the server) gets its configured ``default`` (None if none), for every holder.
        No objects means every exposed ``object:key`` channel. Returns how many were reset."""
        if not self.bus.connected:
            raise ConnectionError(self.bus.describe_state())
        with self._lock:
            exposed = list(self._entries)
        if objects:
            names: set[str] = set()
            for obj in objects:
                names.update(self.bus.live_channels(_escape_glob(obj) + ":*"))
                names.update(n for n in exposed if n.startswith(obj + ":"))
        else:
            names = {n for n in exposed if ":" in n}
        for name in sorted(names):
            default = self._default_for(name)
            entry = self._entries.get(name)
            if entry is not None:
                self._set(entry, default)
            else:
                self.bus.publish(name, default)
        return len(names)

    # ------------------------------------------------------------------ internals
    def _set(self, entry: Exposed, value: Any) -> None:
        if not self.bus.connected:
            raise ConnectionError(self.bus.describe_state())
        entry.channel.value = value
        if entry.attribute:
            entry.sample = self._sample(entry)
            self.listener.publish([entry])

    def _default_for(self, name: str) -> Any:
        entry = self._entries.get(name)
        if entry is not None:
            return entry.spec.default
        for glob in self._globs:
            if fnmatch.fnmatchcase(name, glob.pattern):
                return glob.default
        return None

    def _open_many(self, wanted: list[tuple[str, ChannelSpec]]) -> tuple[list[str], list[str]]:
        """Open channels; those whose kind is known get an attribute at once. Returns the
        names opened, and why the others were refused."""
        ready: list[Exposed] = []
        opened: list[str] = []
        refused: list[str] = []
        with self._lock:
            for name, spec in sorted(wanted, key=lambda w: w[0]):
                if name in self._entries:
                    continue
                entry = Exposed(self, name, spec)
                known = self._known.get(name)
                if spec.attr and known is not None and known[0].lower() == spec.attr.lower():
                    entry.attribute = known[0]  # its own attribute, from before
                elif spec.attr:
                    try:
                        entry.attribute = self._namer.take(spec.attr)
                    except NameTaken as exc:
                        refused.append(f"{spec.line!r}: {exc}")
                        entry.channel.close()
                        continue
                self._entries[name] = entry
                opened.append(name)
                if entry.kind is not None:
                    ready.append(entry)
            self._name(ready)
            for entry in ready:
                entry.sample = self._sample(entry)
        if ready:
            self.listener.expose(ready)
            for entry in ready:
                entry.shown = True
        return opened, refused

    def _name(self, entries: list[Exposed]) -> None:
        # Caller holds the lock.
        for entry in entries:
            known = self._known.get(entry.name)
            if entry.attribute is None and known is not None and known[1] == str(entry.kind):
                entry.attribute = known[0]
        unnamed = [e for e in entries if e.attribute is None]
        names = self._namer.assign(e.name for e in unnamed)
        for entry in unnamed:
            entry.attribute = names[entry.name]
        for entry in entries:
            assert entry.attribute is not None
            self._by_attribute[entry.attribute.lower()] = entry

    def _sample(self, entry: Exposed) -> Sample:
        held = entry.channel.held
        if held is None:
            why = entry.channel.why_no_value()
            return Sample(
                None,
                time.time(),
                False,
                note=f"channel {entry.name} has no value yet ({why})",
                missing=True,
            )
        if entry.decode_error:
            return Sample(None, held.timestamp, False, error=entry.decode_error)
        if held.value is None:
            return Sample(None, held.timestamp, False, note="the value is None")
        assert entry.kind is not None
        try:
            value = entry.kind.convert(held.value)
        except Mismatch as exc:
            return Sample(
                None,
                held.timestamp,
                False,
                error=f"channel {entry.name}: {exc} (attribute type {entry.kind})",
            )
        if not self.bus.connected:
            return Sample(value, held.timestamp, False, note=self.bus.describe_state())
        return Sample(value, held.timestamp, True)

    def _flush(self) -> None:
        """After a batch (in the reader): new samples for the channels that changed."""
        if not self._dirty:
            return
        with self._lock:
            names, self._dirty = self._dirty, set()
            new, changed = [], []
            for name in names:
                entry = self._entries.get(name)
                if entry is None:
                    continue
                if entry.kind is None:
                    entry.kind = _kind_of(entry.channel.held)
                    if entry.kind is None:
                        continue  # None says nothing about the type: wait for a real value
                    new.append(entry)
                changed.append(entry)
            self._name(new)
            for entry in changed:
                entry.sample = self._sample(entry)
        if new:
            self.listener.expose(new)
            for entry in new:
                entry.shown = True
        self.listener.publish([e for e in changed if e not in new])

    def _on_state(self, state: ConnectionState, error: str | None) -> None:
        # In the reader: every sample's validity follows the connection.
        with self._lock:
            self._dirty.update(self._entries)
        self._flush()

    def _on_decode_error(self, name: str, message: str) -> None:
        entry = self._entries.get(name)
        if entry is not None:
            entry.decode_error = f"channel {name}: undecodable message dropped ({message})"
            self._dirty.add(name)

    def _discover_once(self, globs: list[ChannelSpec] | None = None) -> list[str]:
        if not self.bus.connected:
            return []
        wanted = []
        for glob in globs if globs is not None else list(self._globs):
            try:
                live = self.bus.live_channels(glob.pattern)
            except (ConnectionError, TimeoutError, OSError) as exc:
                log.warning("discovering %s: %s", glob.pattern, exc)
                continue
            wanted += [(n, glob) for n in live if n not in self._entries and n not in self._removed]
        # Globs take no attr=: nothing they match is refused.
        return self._open_many(wanted)[0] if wanted else []

    def _discover_forever(self) -> None:
        with self._thread_context():
            while not self._stopped.wait(self.discovery_period):
                try:
                    self._discover_once()
                except Exception:
                    log.exception("glob discovery failed")


def _escape_glob(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _kind_of(held: ValueMessage | None) -> Kind | None:
    """The kind a channel without type= gets from its value (None: no value says it yet)."""
    return infer_kind(held.value) if held is not None else None
