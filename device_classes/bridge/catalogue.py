"""What the device exposes: ``Channels`` and ``Axes`` lines -> channels -> attributes.

The :class:`Catalogue` reads the lines (:mod:`~tango_channels_device.bridge.lines`), decides
which channels to follow (a channel line, the channels a glob matches, the channels of an
axis), the attributes each has (one; two for an axis state: its Tango state and its names),
their kinds and their names (:mod:`~tango_channels_device.bridge.naming`), and forgets them
again. It has one way in for each change (:meth:`Catalogue.configure`, :meth:`Catalogue.add`,
:meth:`Catalogue.discovered`) and one way out (:meth:`Catalogue.remove`), and returns the
:class:`~tango_channels_device.bridge.feed.Feed` objects to open or close: it does no I/O
itself.

Owner: the publisher thread (:mod:`~tango_channels_device.bridge.publisher`); no lock.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .attribute import AttributeRecord, Item, Role
from .axes import AXIS_SETTINGS
from .feed import Feed
from .kinds import Kind, parse_kind
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
from .settings import SettingSource

__all__ = ["Catalogue", "SurveyPlan"]


@dataclass(frozen=True)
class SurveyPlan:
    """What the survey looks for in Redis (a snapshot, handed to its thread): the channels
    globs match, the axes axis globs match, the subscriber counts of the channels followed,
    and the settings fields attributes fall back on."""

    globs: tuple[str, ...] = ()
    axis_globs: tuple[str, ...] = ()
    followed: tuple[str, ...] = ()
    settings: tuple[SettingSource, ...] = ()


class Catalogue:
    """The channels and axes of one device (see the module docstring). ``hand`` is given to
    every feed (see :class:`~tango_channels_device.bridge.feed.Feed`). ``known``: attributes
    that already exist (a previous configuration, before Init): record key -> (attribute,
    kind); their names stay taken, and a record coming back with the same kind gets its
    attribute back."""

    def __init__(
        self,
        hand: Callable[[AttributeRecord, Item], None],
        reserved_names: Iterable[str],
        known: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self._hand = hand
        self._known = dict(known or {})
        self._namer = AttributeNamer([*reserved_names, *(a for a, _ in self._known.values())])
        self._feeds: dict[str, Feed] = {}
        self._by_attribute: dict[str, AttributeRecord] = {}
        self._globs: list[ChannelSpec] = []
        self._axis_globs: list[AxisSpec] = []
        self._axes: dict[str, AxisSpec] = {}  # axis name -> the line that exposes it
        self._removed: set[str] = set()  # glob matches removed by hand: not rediscovered
        self._refused_globs: set[str] = set()
        self.line_errors: list[str] = []
        self.runtime_errors: list[str] = []

    # ------------------------------------------------------------------ ways in
    def configure(self, channel_lines: list[str], axis_lines: list[str]) -> list[Feed]:
        """The ``Channels`` and ``Axes`` properties: the feeds to open."""
        specs, channel_errors = parse_lines(channel_lines)
        axes, axis_errors = parse_axis_lines(axis_lines)
        self.line_errors = channel_errors + axis_errors
        self._globs = [s for s in specs if s.is_glob]
        self._axis_globs = [a for a in axes if a.is_glob]
        feeds, refused = self._channels([(s.pattern, s) for s in specs if not s.is_glob])
        self.runtime_errors += refused
        for axis in axes:
            if not axis.is_glob:
                feeds += self._axis(axis.pattern, axis)
        return feeds

    def add(self, line: str, live: Iterable[str] = ()) -> list[Feed]:
        """One more ``Channels`` line (``AddChannel``); ``live``: the channels on the server
        now (those a glob line matches are followed at once). Raises
        :class:`~tango_channels_device.bridge.lines.LineError` (a bad line, a channel already
        exposed, a name taken) without changing anything."""
        spec = parse_line(line)
        if spec is None:
            raise LineError("empty line")
        if spec.is_glob:
            if any(g.pattern == spec.pattern for g in self._globs):
                raise LineError(f"{spec.pattern!r} is already configured")
            self._globs.append(spec)
            return self.discovered({spec.pattern: list(live)}, {})
        if spec.pattern in self._feeds:
            raise LineError(f"channel {spec.pattern!r} is already exposed")
        self._removed.discard(spec.pattern)
        feeds, refused = self._channels([(spec.pattern, spec)])
        if refused:  # the caller is told; the device's configuration is still sound
            raise LineError(refused[0])
        return feeds

    def discovered(
        self, channels: dict[str, list[str]], axes: dict[str, list[str]]
    ) -> list[Feed]:
        """What the survey found live: the channels each glob pattern matches, the axes
        each axis glob pattern matches. Returns the feeds to open for those not followed."""
        feeds: list[Feed] = []
        for glob in self._globs:
            wanted = [
                (name, glob)
                for name in channels.get(glob.pattern, [])
                if name not in self._feeds and name not in self._removed
            ]
            new, refused = self._channels(wanted)
            feeds += new
            self.runtime_errors += refused
        for axis_glob in self._axis_globs:
            for axis in sorted(set(axes.get(axis_glob.pattern, []))):
                if fnmatch.fnmatchcase(axis, axis_glob.pattern):
                    feeds += self._axis(axis, axis_glob)
        return feeds

    def name(self, record: AttributeRecord) -> None:
        """Give ``record`` (its kind known) its attribute name, for the device to make it."""
        known = self._known.get(record.key)
        if record.name is None and known is not None and known[1] == str(record.kind):
            record.name = known[0]
        if record.name is None:
            record.name = self._namer.assign([record.key])[record.key]
        self._by_attribute[record.name.lower()] = record
        record.named = True

    # ------------------------------------------------------------------ way out
    def remove(self, name: str) -> list[Feed]:
        """Stop exposing channel ``name``, every channel of glob ``name``, or axis ``name``
        (or axis glob): the feeds to close, their records marked removed. KeyError if
        nothing is exposed by that name."""
        globs = [g for g in self._globs if g.pattern == name]
        axis_globs = [a for a in self._axis_globs if a.pattern == name]
        if globs:
            self._globs.remove(globs[0])
            gone = [
                f
                for f in self._feeds.values()
                if f.records[0].spec.is_glob and f.records[0].spec.pattern == name
            ]
        elif axis_globs or name in self._axes:
            if axis_globs:
                self._axis_globs.remove(axis_globs[0])
            axes = {a for a, spec in self._axes.items() if spec.pattern == name}
            gone = [f for f in self._feeds.values() if _axis_of(f.name) in axes]
            for axis in axes:
                del self._axes[axis]
        elif name in self._feeds:
            gone = [self._feeds[name]]
        else:
            raise KeyError(f"no exposed channel, glob or axis {name!r}")
        for feed in gone:
            del self._feeds[feed.name]
            for record in feed.records:
                record.removed = True
                if record.name:
                    self._by_attribute.pop(record.name.lower(), None)
                    self._known[record.key] = (record.name, str(record.kind))
                if record.spec.is_glob or record.role is not Role.VALUE:
                    self._removed.add(feed.name)
            for other in self._feeds.values():  # an axis's position no longer follows it
                other.dependents = [r for r in other.dependents if not r.removed]
        return gone

    # ------------------------------------------------------------------ what there is
    def feeds(self) -> list[Feed]:
        return list(self._feeds.values())

    def feed(self, channel: str) -> Feed | None:
        return self._feeds.get(channel)

    def records(self) -> list[AttributeRecord]:
        return [r for f in self._feeds.values() for r in f.records]

    def by_channel(self, channel: str) -> AttributeRecord | None:
        """The main record of ``channel`` (its value; an axis state's Tango state)."""
        feed = self._feeds.get(channel)
        return feed.records[0] if feed is not None and feed.records else None

    def by_attribute(self, attribute: str) -> AttributeRecord | None:
        return self._by_attribute.get(attribute.lower())

    def axes(self) -> list[str]:
        return sorted(self._axes)

    def default_for(self, channel: str) -> object:
        """What ``ClearCache`` gives ``channel``: its line's ``default``."""
        record = self.by_channel(channel)
        if record is not None:
            return record.spec.default
        for glob in self._globs:
            if fnmatch.fnmatchcase(channel, glob.pattern):
                return glob.default
        return None

    def plan(self) -> SurveyPlan:
        return SurveyPlan(
            globs=tuple(g.pattern for g in self._globs),
            axis_globs=tuple(a.pattern for a in self._axis_globs),
            followed=tuple(self._feeds),
            settings=tuple(
                sorted({r.spec.setting for r in self.records() if r.spec.setting}, key=str)
            ),
        )

    @property
    def errors(self) -> list[str]:
        return self.line_errors + self.runtime_errors

    # ------------------------------------------------------------------ internals
    def _channels(self, wanted: list[tuple[str, ChannelSpec]]) -> tuple[list[Feed], list[str]]:
        """Feeds with one record each (those whose kind is known are named at once), and
        why the others were refused."""
        feeds: list[Feed] = []
        refused: list[str] = []
        for name, spec in sorted(wanted, key=lambda w: w[0]):
            if spec.writable and spec.is_glob and (why := refused_write(name)):
                if spec.pattern not in self._refused_globs:
                    self._refused_globs.add(spec.pattern)
                    self.runtime_errors.append(f"{why} (access=rw in {spec.line!r})")
                spec = dataclasses.replace(spec, writable=False)
            if name in self._feeds:
                continue
            feed = Feed(name, self._hand)
            record = AttributeRecord(feed, spec, kind=spec.kind)
            try:
                self._claim(record, spec.attr)
            except NameTaken as exc:
                refused.append(f"{spec.line!r}: {exc}")
                continue
            feeds.append(self._follow(feed, [record]))
        return feeds, refused

    def _axis(self, axis: str, spec: AxisSpec) -> list[Feed]:
        """The feeds of BLISS axis ``axis``, a record each (two for its state)."""
        if axis in self._axes or any(f"axis.{axis}.{s.name}" in self._feeds for s in AXIS_SETTINGS):
            return []
        self._axes[axis] = spec
        feeds: list[Feed] = []
        for setting in AXIS_SETTINGS:
            name = f"axis.{axis}.{setting.name}"
            if name in self._removed:
                continue
            channel_spec = _axis_spec(axis, spec, setting.name, setting.kind, setting.unit)
            if setting.shown_from_hash:
                channel_spec = dataclasses.replace(
                    channel_spec, setting=SettingSource(f"axis.{axis}", setting.name)
                )
            feed = Feed(name, self._hand)
            records = [AttributeRecord(feed, channel_spec, kind=channel_spec.kind)]
            if setting.name == "state":
                names_spec = _axis_spec(axis, spec, "state names", "str", "")
                records.append(AttributeRecord(feed, names_spec, Role.STATE_NAMES, Kind("str")))
            elif setting.name == "position":
                records[0].role = Role.POSITION
            feeds.append(self._follow(feed, records))
        state = self._feeds.get(f"axis.{axis}.state")
        position = self._feeds.get(f"axis.{axis}.position")
        if state is not None and position is not None:
            position.records[0].state_of_axis = state
            state.dependents.append(position.records[0])
        return feeds

    def _follow(self, feed: Feed, records: list[AttributeRecord]) -> Feed:
        feed.records = records
        self._feeds[feed.name] = feed
        for record in records:
            if record.kind is not None:
                self.name(record)
        return feed

    def _claim(self, record: AttributeRecord, chosen: str | None) -> None:
        """Reserve ``attr=``; NameTaken if another attribute has it."""
        if not chosen:
            return
        known = self._known.get(record.key)
        if known is not None and known[0].lower() == chosen.lower():
            record.name = known[0]  # its own attribute, from before
        else:
            record.name = self._namer.take(chosen)


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


def _axis_of(channel: str) -> str | None:
    parts = channel.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "axis" else None
