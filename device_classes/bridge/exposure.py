"""Channels and axes exposed as named, typed samples: everything the Tango device needs, minus
Tango.

:class:`Exposure` is the device's component manager. Given a
:class:`~tango_channels.bus.Bus`, the ``Channels`` lines and the ``Axes`` lines, it follows one
*mirror* channel per BLISS channel (it shows what BLISS processes hold and offers none of it),
finds the channels that globs match and the axes that axis globs match (live channels, and the
settings hashes BLISS persists), decides each attribute's
:class:`~tango_channels_device.bridge.kinds.Kind` (from ``type=`` or the first value), names it
(:mod:`tango_channels_device.bridge.naming`) and computes its samples
(:mod:`tango_channels_device.bridge.views`). The device takes what changed with
:meth:`take_changes`.

Threads
-------
- The **bus reader** runs the mirror channels' callbacks: a new value, or nobody holding a
  channel any more, is queued as it is for each view of that channel, under the lock (a few
  microseconds, never waiting for anything: the reader must keep up with Redis);
  :attr:`Exposure.changed` is then set.
- One **survey** thread, every ``discovery_period``: one pipelined round trip asks Redis which
  channels the globs match and how many subscribers every followed channel has (the bus then
  asks who holds a channel whose count dropped: see :mod:`tango_channels.protocol`); every
  ``settings_period``, one round trip fetches the settings fields that views fall back on; every
  ``AXIS_SCAN_PERIOD``, ``SCAN`` (never ``KEYS``) looks for axes known only by their hash.
- The device's **publisher** thread calls :meth:`Exposure.take_changes`: new views to make
  attributes for, and the samples to push, in order; it turns what was queued into samples
  (:func:`~tango_channels_device.bridge.views.sample_from`), outside the lock.
- Commands (``add_line``, ``remove``, ``write``, ``clear_cache``, ``stop_axes``) run in the
  caller's thread. The lock is held for work in memory only, never across I/O.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tango_channels.bus import Bus, ConnectionState
from tango_channels.channel import Channel

from .axes import AXIS_SETTINGS, axis_state_names, is_axis_state, move_stop_channel
from .kinds import Kind, infer_kind, parse_kind
from .lines import (
    AxisSpec,
    ChannelSpec,
    LineError,
    parse_axis_lines,
    parse_line,
    parse_lines,
    refused_write,
)
from .naming import AttributeNamer, NameTaken
from .sample import Sample
from .settings import SettingSource, SettingsPoll
from .views import Item, Role, View, Watch, kind_of, sample_from

__all__ = ["Changes", "Exposure"]

log = logging.getLogger(__name__)

#: Values of one view taken at once beyond which only the latest is pushed: the device is
#: not keeping up with that channel, and the latest value is what matters.
MAX_BURST = 8
AXIS_SCAN_PERIOD = 30.0  # seconds between two SCANs for axes known only by their hash
_SCAN_COUNT = 1000


@dataclass
class Changes:
    """What the publisher has to do: make attributes for ``new`` views, push ``samples`` (per
    view, in order), and count ``coalesced`` values (superseded before they could be pushed)."""

    new: list[View]
    samples: list[tuple[View, list[Sample]]]
    coalesced: int


class Exposure:
    """The channels and axes of one device (see the module docstring)."""

    def __init__(
        self,
        bus: Bus,
        reserved_names: list[str],
        known: dict[str, tuple[str, str]] | None = None,
        discovery_period: float = 2.0,
        settings_period: float = 2.0,
        thread_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.bus = bus
        self.discovery_period = discovery_period
        self.settings_period = settings_period
        self.changed = threading.Event()
        self._thread_context = thread_context or contextlib.nullcontext
        self._lock = threading.RLock()
        self._watches: dict[str, Watch] = {}
        self._views: list[View] = []
        self._by_attribute: dict[str, View] = {}
        self._globs: list[ChannelSpec] = []
        self._axis_globs: list[AxisSpec] = []
        self._axes: dict[str, AxisSpec] = {}  # axis name -> the line that exposes it
        self._removed: set[str] = set()  # glob matches removed by hand: not rediscovered
        self._refused_globs: set[str] = set()
        # Attributes that already exist (a previous configuration, or views removed):
        # view key -> (attribute, kind). Their names stay taken; a view coming back with the
        # same kind gets its attribute back.
        self._known = dict(known or {})
        self._namer = AttributeNamer([*reserved_names, *(a for a, _ in self._known.values())])
        self._new: list[View] = []
        self._dirty: dict[View, None] = {}  # views with something queued, in order
        self._unsettled: set[Watch] = set()  # without their first answer, or attribute
        self._poll = SettingsPoll()
        self.line_errors: list[str] = []
        self.runtime_errors: list[str] = []
        self._stopped = threading.Event()
        self._survey: threading.Thread | None = None
        bus.add_state_listener(self._on_state)
        bus.add_decode_error_listener(self._on_decode_error)

    # ------------------------------------------------------------------ set-up
    def configure(self, channel_lines: list[str], axis_lines: list[str] | None = None) -> None:
        """Open every configured channel and axis, and start surveying Redis."""
        specs, channel_errors = parse_lines(channel_lines)
        axes, axis_errors = parse_axis_lines(axis_lines or [])
        self.line_errors = channel_errors + axis_errors
        self._globs = [s for s in specs if s.is_glob]
        self._axis_globs = [a for a in axes if a.is_glob]
        self.runtime_errors += self._open_channels([(s.pattern, s) for s in specs if not s.is_glob])
        for axis in axes:
            if not axis.is_glob:
                self._open_axis(axis.pattern, axis)
        self._survey_once(settings=True, axes=True)
        self._survey = threading.Thread(
            target=self._survey_forever, name="tango-channels survey", daemon=True
        )
        self._survey.start()

    def stop(self) -> None:
        """Close every channel; the bus stays open (it belongs to the caller)."""
        self._stopped.set()
        if self._survey is not None:
            self._survey.join(timeout=5)
        self.bus.remove_state_listener(self._on_state)
        with self._lock:
            watches = list(self._watches.values())
            self._watches.clear()
            self._views.clear()
            self._by_attribute.clear()
        for watch in watches:
            watch.channel.close()

    # ------------------------------------------------------------------ what there is
    def channel_names(self) -> list[str]:
        """The channels exposed (their attributes made), in channel-name order."""
        with self._lock:
            return sorted({v.name for v in self._views if v.shown})

    def by_channel(self, name: str) -> View | None:
        """The main view of channel ``name`` (its value; an axis state's Tango state)."""
        watch = self._watches.get(name)
        return watch.views[0] if watch is not None and watch.views else None

    def by_attribute(self, attribute: str) -> View | None:
        return self._by_attribute.get(attribute.lower())

    @property
    def errors(self) -> list[str]:
        return self.line_errors + self.runtime_errors

    def settled(self, names: list[str] | None = None) -> bool:
        """Whether the channels (all, or ``names``) have their first answer (a value, or
        nobody holding one) and, where that gave them a type, their attribute."""
        with self._lock:
            if names:
                return not any(self._watches.get(n) in self._unsettled for n in names)
            return not self._unsettled

    def _check_settled(self, watch: Watch) -> None:
        # Caller holds the lock.
        if watch.channel.settled and all(v.shown or v.kind is None for v in watch.views):
            self._unsettled.discard(watch)

    def wait_settled(self, timeout: float, names: list[str] | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while not self.settled(names):
            if time.monotonic() > deadline or not self.bus.connected:
                return False
            time.sleep(0.01)
        return True

    def summary(self) -> list[str]:
        """Lines for the device's Status: what is shown, what is not, and why."""
        with self._lock:
            views = [v for v in self._views if v.attribute]
            pending = [v for v in self._views if not v.attribute]
            samples = [(v, v.sample) for v in views if v.sample is not None]
        lines = [f"{len({v.name for v in views})} channels exposed as attributes"]
        if pending:
            lines[0] += (
                f"; {len(pending)} waiting for a first value to set their type "
                f"({_names(pending)})"
            )
        lines[0] += "."
        fallback = [v for v, s in samples if s.error is None and _from_settings(v)]
        if fallback:
            lines.append(
                f"{len(fallback)} channels shown from BLISS settings: no session holds them "
                f"({_names(fallback)})."
            )
        absent = [(v, s) for v, s in samples if s.absent and s.error]
        gone = [(v, s) for v, s in absent if _abandoned(v)]
        if gone:
            lines.append(
                f"{len(gone)} channels not held by any BLISS process "
                f"({_names([v for v, _ in gone])}): {gone[0][1].error}."
            )
        missing = [v for v, _ in absent if not _abandoned(v)]
        if missing:
            lines.append(
                f"{len(missing)} channels have no value yet ({_names(missing)}): "
                f"{missing[0].watch.channel.why_no_value()}."
            )
        errors = [s.error for _, s in samples if s.error and not s.absent]
        if errors:
            lines.append(f"{len(errors)} channels with a value error, e.g. {errors[0]}.")
        return lines

    # ------------------------------------------------------------------ for the publisher
    def take_changes(self, latest_only: bool = False) -> Changes:
        """What changed since the last call (see :class:`Changes`): every value queued, in
        order, unless a view has more than MAX_BURST or ``latest_only`` (the publisher is
        backed up): then its latest."""
        self.changed.clear()
        burst = 1 if latest_only else MAX_BURST
        coalesced = 0
        taken: list[tuple[View, list[Item]]] = []
        with self._lock:
            new, self._new = self._new, []
            dirty, self._dirty = list(self._dirty), {}
            for view in dirty:
                queued = view.pending
                coalesced += view.dropped
                view.dropped = 0
                if len(queued) > burst:
                    coalesced += len(queued) - 1
                    taken.append((view, [queued[-1]]))
                else:
                    taken.append((view, list(queued)))
                queued.clear()
        connected, describe = self.bus.connected, self.bus.describe_state
        samples = []
        for view, items in taken:
            persisted = self._poll.get(view.spec.setting) if view.spec.setting else None
            shown = [sample_from(view, item, connected, persisted, describe) for item in items]
            view.sample = shown[-1]
            samples.append((view, shown))
        return Changes(new, samples, coalesced)

    def shown(self, views: list[View]) -> None:
        """The publisher made the attributes of ``views`` and showed their first samples."""
        with self._lock:
            for view in views:
                view.shown = True
                self._check_settled(view.watch)

    # ------------------------------------------------------------------ changes
    def add_line(self, line: str) -> list[str]:
        """Expose what one more ``Channels`` line says; returns the channel names opened.

        Raises :class:`~tango_channels_device.bridge.lines.LineError` (bad line, or a channel
        already exposed) without changing anything.
        """
        spec = parse_line(line)
        if spec is None:
            raise LineError("empty line")
        if spec.is_glob:
            with self._lock:
                if any(g.pattern == spec.pattern for g in self._globs):
                    raise LineError(f"{spec.pattern!r} is already configured")
                self._globs.append(spec)
            return self._discover([spec], [])
        if spec.pattern in self._watches:
            raise LineError(f"channel {spec.pattern!r} is already exposed")
        self._removed.discard(spec.pattern)
        refused = self._open_channels([(spec.pattern, spec)])
        if refused:  # the caller is told; the device's configuration is still sound
            raise LineError(refused[0])
        return [spec.pattern]

    def remove(self, name: str) -> list[View]:
        """Stop exposing channel ``name``, every channel of glob ``name``, or axis ``name``."""
        with self._lock:
            globs = [g for g in self._globs if g.pattern == name]
            axis_globs = [a for a in self._axis_globs if a.pattern == name]
            if globs:
                self._globs.remove(globs[0])
                gone = [v for v in self._views if v.spec is globs[0]]
            elif axis_globs or name in self._axes:
                if axis_globs:
                    self._axis_globs.remove(axis_globs[0])
                axes = {a for a, spec in self._axes.items() if spec.pattern == name}
                gone = [v for v in self._views if _axis_of(v) in axes]
                for axis in axes:
                    del self._axes[axis]
            elif name in self._watches:
                gone = list(self._watches[name].views)
            else:
                raise KeyError(f"no exposed channel, glob or axis {name!r}")
            watches = {v.watch.name: v.watch for v in gone}
            for view in gone:
                self._views.remove(view)
                if view.attribute:
                    self._by_attribute.pop(view.attribute.lower(), None)
                    self._known[view.key] = (view.attribute, str(view.kind))
                if view.spec.is_glob or view.role is not Role.VALUE:
                    self._removed.add(view.name)
            for watch_name in watches:
                self._watches.pop(watch_name, None)
        for watch in watches.values():
            watch.channel.close()
        return gone

    def write(self, view: View, client_value: Any) -> None:
        """Publish a value a client wrote (held here as a BLISS process holds what it set);
        raises ``PermissionError``, :class:`~tango_channels_device.bridge.kinds.Mismatch` or
        ``ConnectionError`` saying why not."""
        if not view.writable or view.kind is None:
            raise PermissionError(f"{view.name} is read-only (its line has no access=rw)")
        value = view.kind.from_client(client_value)
        if not self.bus.connected:
            raise ConnectionError(self.bus.describe_state())
        view.watch.channel.value = value

    def clear_cache(self, objects: list[str]) -> list[str]:
        """BLISS's ``clear_cache`` across processes: every ``<object>:*`` channel (exposed, or
        live on the server) gets its configured ``default`` (None if none), for every holder.
        No objects means every exposed ``object:key`` channel. The defaults are published, not
        held here: once the last BLISS holder goes, they are gone. Returns the channels reset."""
        if not self.bus.connected:
            raise ConnectionError(self.bus.describe_state())
        with self._lock:
            exposed = list(self._watches)
        if objects:
            names: set[str] = set()
            for obj in objects:
                names.update(self.bus.live_channels(_escape_glob(obj) + ":*"))
                names.update(n for n in exposed if n.startswith(obj + ":"))
        else:
            names = {n for n in exposed if ":" in n}
        for name in sorted(names):
            self.bus.publish(name, self._default_for(name))
        return sorted(names)

    def stop_axes(self, axes: list[str]) -> list[str]:
        """Ask BLISS to stop the moves of ``axes`` (all the exposed axes that are MOVING if
        none): ``axis.<n>.move_stop`` set True, as ``Axis.stop`` does for a move started by
        another process. Published, not held. Returns the axes asked."""
        if not self.bus.connected:
            raise ConnectionError(self.bus.describe_state())
        if not axes:
            axes = [a for a in sorted(self._axes) if self._moving(a)]
        for axis in axes:
            self.bus.publish(move_stop_channel(axis), True)
        return axes

    # ------------------------------------------------------------------ internals
    def _moving(self, axis: str) -> bool:
        watch = self._watches.get(f"axis.{axis}.state")
        held = watch.channel.held if watch is not None else None
        return (
            held is not None
            and watch is not None
            and watch.channel.live
            and is_axis_state(held.value)
            and "MOVING" in axis_state_names(held.value)
        )

    def _default_for(self, name: str) -> Any:
        watch = self._watches.get(name)
        if watch is not None and watch.views:
            return watch.views[0].spec.default
        for glob in self._globs:
            if fnmatch.fnmatchcase(name, glob.pattern):
                return glob.default
        return None

    def _open_channels(self, wanted: list[tuple[str, ChannelSpec]]) -> list[str]:
        """Open channels with one view each; those whose kind is known are named at once.
        Returns why the others were refused."""
        refused: list[str] = []
        for name, spec in sorted(wanted, key=lambda w: w[0]):
            if spec.writable and spec.is_glob and (why := refused_write(name)):
                if spec.pattern not in self._refused_globs:
                    self._refused_globs.add(spec.pattern)
                    self.runtime_errors.append(f"{why} (access=rw in {spec.line!r})")
                spec = dataclasses.replace(spec, writable=False)
            with self._lock:
                if name in self._watches:
                    continue
                view = View(_new_watch(self, name), spec, kind=spec.kind)
                try:
                    self._claim_name(view, spec.attr)
                except NameTaken as exc:
                    refused.append(f"{spec.line!r}: {exc}")
                    continue
                self._follow([view])
        return refused

    def _open_axis(self, axis: str, spec: AxisSpec) -> None:
        """Open the channels of BLISS axis ``axis``, a view each (two for its state)."""
        with self._lock:
            if axis in self._axes or any(
                f"axis.{axis}.{s.name}" in self._watches for s in AXIS_SETTINGS
            ):
                return
            self._axes[axis] = spec
            state: Watch | None = None
            for setting in AXIS_SETTINGS:
                name = f"axis.{axis}.{setting.name}"
                if name in self._removed:
                    continue
                channel_spec = _axis_spec(axis, spec, setting.name, setting.kind, setting.unit)
                if setting.shown_from_hash:
                    channel_spec = dataclasses.replace(
                        channel_spec, setting=SettingSource(f"axis.{axis}", setting.name)
                    )
                views = [View(_new_watch(self, name), channel_spec, kind=channel_spec.kind)]
                if setting.name == "state":
                    names_spec = _axis_spec(axis, spec, "state names", "str", "")
                    views.append(View(views[0].watch, names_spec, Role.STATE_NAMES, Kind("str")))
                elif setting.name == "position":
                    views[0].role = Role.POSITION
                watch = self._follow(views)
                if setting.name == "state":
                    state = watch
            for view in self._views:
                if view.role is Role.POSITION and _axis_of(view) == axis:
                    view.state_of_axis = state
                    if state is not None:
                        state.dependents.append(view)
            position = self._watches.get(f"axis.{axis}.position")
            if position is not None:
                self._note(position, None)  # its quality now follows the state

    def _follow(self, views: list[View]) -> Watch:
        """Follow the channel of ``views`` (caller holds the lock; they share one watch)."""
        watch = views[0].watch
        watch.views = views
        self._watches[watch.name] = watch
        self._views += views
        self._unsettled.add(watch)
        watch.channel = Channel(
            watch.name,
            bus=self.bus,
            mirror=True,
            callback=watch.on_value,
            on_holders_changed=watch.on_holders_changed,
        )
        self._note(watch, None)
        return watch

    def _claim_name(self, view: View, chosen: str | None) -> None:
        """Reserve ``attr=`` (caller holds the lock); NameTaken if another has it."""
        known = self._known.get(view.key)
        if chosen and known is not None and known[0].lower() == chosen.lower():
            view.attribute = known[0]  # its own attribute, from before
        elif chosen:
            view.attribute = self._namer.take(chosen)

    def _name(self, view: View) -> None:
        # Caller holds the lock; the view's kind is known.
        known = self._known.get(view.key)
        if view.attribute is None and known is not None and known[1] == str(view.kind):
            view.attribute = known[0]
        if view.attribute is None:
            view.attribute = self._namer.assign([view.key])[view.key]
        self._by_attribute[view.attribute.lower()] = view
        view.named = True
        self._new.append(view)

    def _changed(self, watch: Watch, value: bool) -> None:
        """A mirror channel's callback (in the reader, or in a writer's thread): a new value
        (``value``), or whether anyone holds it changed."""
        with self._lock:
            if self._watches.get(watch.name) is not watch:
                return  # removed meanwhile
            if value:
                watch.decode_error = None
            self._note(watch, watch.channel.held if value else None)
            for view in watch.dependents:
                self._queue(view, None)
        if not self.changed.is_set():
            self.changed.set()

    def _note(self, watch: Watch, item: Item) -> None:
        """Queue ``item`` for every view of ``watch`` (caller holds the lock); a view whose
        type its first value decides is named then."""
        for view in watch.views:
            if view.kind is None:
                view.kind = kind_of(watch.channel.held) or self._persisted_kind(view)
                if view.kind is None:
                    continue  # None says nothing about the type: wait for a real value
            if not view.named:
                self._name(view)
            self._queue(view, item)
        self._check_settled(watch)

    def _queue(self, view: View, item: Item) -> None:
        # Caller holds the lock.
        if view.kind is not None:
            view.record(item)
            self._dirty[view] = None

    def _persisted_kind(self, view: View) -> Kind | None:
        persisted = self._poll.get(view.spec.setting) if view.spec.setting else None
        if persisted is None or persisted.value is None:
            return None
        return infer_kind(persisted.value)

    def _on_state(self, state: ConnectionState, error: str | None) -> None:
        # In the reader: every sample's validity follows the connection.
        with self._lock:
            for watch in self._watches.values():
                self._note(watch, None)
        self.changed.set()

    def _on_decode_error(self, name: str, message: str) -> None:
        watch = self._watches.get(name)
        if watch is not None:
            watch.decode_error = f"channel {name}: undecodable message dropped ({message})"
            self._changed(watch, value=False)

    # ------------------------------------------------------------------ the survey
    def survey(self, settings: bool = True) -> None:
        """One look at Redis now, as the survey thread takes every period: new glob matches,
        every channel's subscriber count (asking who holds those whose count dropped) and, with
        ``settings``, the settings hashes."""
        self._survey_once(settings, axes=False)

    def _survey_forever(self) -> None:
        with self._thread_context():
            next_settings = next_axes = time.monotonic()
            while not self._stopped.wait(min(self.discovery_period, self.settings_period)):
                now = time.monotonic()
                settings, axes = now >= next_settings, now >= next_axes
                if settings:
                    next_settings = now + self.settings_period
                if axes:
                    next_axes = now + AXIS_SCAN_PERIOD
                try:
                    self._survey_once(settings, axes)
                except Exception:
                    log.exception("surveying Redis failed")

    def _survey_once(self, settings: bool, axes: bool) -> None:
        """Globs, subscriber counts (and settings hashes, axes by their hash)."""
        if not self.bus.connected:
            return
        try:
            self._discover(list(self._globs), list(self._axis_globs), counts=True)
            if settings:
                self._poll_settings()
            if axes and self._axis_globs:
                self._scan_axes()
        except (ConnectionError, TimeoutError, OSError) as exc:
            log.warning("surveying Redis at %s: %s", self.bus.address, exc)

    def _discover(
        self, globs: list[ChannelSpec], axis_globs: list[AxisSpec], counts: bool = False
    ) -> list[str]:
        """One round trip: the channels of ``globs`` and ``axis_globs`` live now (opened if
        new), and (``counts``) every followed channel's subscriber count, for the bus."""
        with self._lock:
            names = list(self._watches) if counts else []
        commands: list[tuple[Any, ...]] = [
            ("PUBSUB", "CHANNELS", g.pattern.encode()) for g in globs
        ] + [("PUBSUB", "CHANNELS", f"axis.{a.pattern}.*".encode()) for a in axis_globs]
        if names:
            commands.append(("PUBSUB", "NUMSUB", *(n.encode() for n in names)))
        if not commands:
            return []
        replies = self.bus.execute(*commands)
        if names:
            flat = replies.pop()
            self.bus.subscribers_seen(
                {n: int(c) for n, c in zip(names, flat[1::2], strict=True)}
            )
        opened = []
        for glob, live in zip(globs, replies, strict=False):
            wanted = [
                (n, glob)
                for n in (_text(raw) for raw in live)
                if n not in self._watches and n not in self._removed
            ]
            self.runtime_errors += self._open_channels(wanted)
            opened += [n for n, _ in wanted]
        for axis_glob, live in zip(axis_globs, replies[len(globs) :], strict=True):
            for axis in sorted({_text(raw).split(".")[1] for raw in live}):
                if fnmatch.fnmatchcase(axis, axis_glob.pattern):
                    self._open_axis(axis, axis_glob)
        return opened

    def _poll_settings(self) -> None:
        with self._lock:
            sources = sorted(
                {v.spec.setting for v in self._views if v.spec.setting}, key=str
            )
        if not sources:
            return
        commands = self._poll.commands(sources)
        replies = self.bus.execute(*commands)
        with self._lock:
            changed = set(self._poll.update(replies, time.time()))
            watches = {v.watch for v in self._views if v.spec.setting in changed}
            for watch in watches:
                if not watch.channel.live:
                    self._note(watch, None)
        if watches:
            self.changed.set()

    def _scan_axes(self) -> None:
        """Axes whose settings hash exists, whether or not a session holds them now."""
        for axis_glob in list(self._axis_globs):
            cursor = b"0"
            found: set[str] = set()
            while True:
                cursor, keys = self.bus.execute(
                    (
                        "SCAN",
                        cursor,
                        "MATCH",
                        f"axis.{axis_glob.pattern}".encode(),
                        "COUNT",
                        str(_SCAN_COUNT),
                        "TYPE",
                        "hash",
                    )
                )[0]
                found.update(_text(k)[len("axis.") :] for k in keys)
                if cursor in (b"0", 0, "0"):
                    break
            for axis in sorted(found):
                if "." not in axis and fnmatch.fnmatchcase(axis, axis_glob.pattern):
                    self._open_axis(axis, axis_glob)


def _new_watch(exposure: Exposure, name: str) -> Watch:
    return Watch(name, on_change=exposure._changed)


def _axis_spec(axis: str, spec: AxisSpec, setting: str, kind: str, unit: str) -> ChannelSpec:
    """The line an ``Axes`` line amounts to for one of the axis's channels."""
    label = f"{spec.label or axis} {setting.strip('_').replace('_', ' ')}"
    return ChannelSpec(
        pattern=f"axis.{axis}.{setting}",
        line=spec.line,
        kind=parse_kind(kind),
        unit=unit.format(u=spec.unit) if spec.unit else "",
        format=spec.format if kind == "float" else "",
        label=label,
        description=f"BLISS axis {axis}: {setting}",
    )


def _axis_of(view: View) -> str | None:
    parts = view.name.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "axis" else None


def _from_settings(view: View) -> bool:
    return view.spec.setting is not None and not view.watch.channel.live


def _abandoned(view: View) -> bool:
    return view.watch.channel.abandoned is not None


def _names(views: list[View]) -> str:
    names = sorted({v.name for v in views})
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw


def _escape_glob(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


