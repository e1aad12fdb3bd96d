"""What a BeaconChannels device exposes: ``Channels`` and ``Axes`` lines -> wanted attributes.

The :class:`Catalogue` holds the device's lines (the properties, and what ``AddChannel`` and
``RemoveChannel`` changed since) and what the survey found live for its globs, and says, as a
pure function of both, which attributes the device should show (:meth:`Catalogue.wanted`):
one :class:`Want` per attribute, keyed as the attribute record is. The publisher then makes the
device's attribute table match it (:mod:`~tango_channels_device.bridge.devices`): attributes
of channels no line matches any more are retired, and come back, under the same name, when a
line matches them again.

The rules:

- a channel line exposes its channel; a glob line, every live channel it matches (now, and as
  the survey finds them); an ``Axes`` line, the channels of its axis (or of every axis its
  glob matches, live or with a settings hash);
- a channel several lines match is one attribute, shown as the first of them says, in this
  order: channel lines, ``Axes`` lines, glob lines, axis glob lines, each in the order given.
  Removing one of them keeps the attribute while another matches;
- ``RemoveChannel`` of a channel that a glob or an axis exposes hides that channel only
  (it stays hidden until a line naming or matching it is added, or Init reads the
  properties again);
- a line given again (``AddChannel`` after ``RemoveChannel``) exposes its channels again.

Owner: the publisher thread (:mod:`~tango_channels_device.bridge.publisher`); no lock, no I/O.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from .attribute import View, attribute_key
from .axes import AXIS_SETTINGS
from .kinds import Kind, parse_kind
from .lines import (
    AxisSpec,
    ChannelSpec,
    LineError,
    parse_axis_line,
    parse_axis_lines,
    parse_line,
    parse_lines,
    refused_write,
)
from .settings import SettingSource

__all__ = ["Catalogue", "SurveyPlan", "Want", "axis_wants"]


@dataclass(frozen=True)
class SurveyPlan:
    """What the survey looks for in Redis (a snapshot, handed to its thread): the channels
    globs match, the axes axis globs match, the subscriber counts of the channels followed,
    and the settings fields attributes fall back on."""

    globs: tuple[str, ...] = ()
    axis_globs: tuple[str, ...] = ()
    followed: tuple[str, ...] = ()
    settings: tuple[SettingSource, ...] = ()


@dataclass(frozen=True, slots=True)
class Want:
    """One attribute a device should show: its channel, the line (as a spec) that decides
    how, what it shows of the channel, and the channel of the axis state a position follows."""

    channel: str
    spec: ChannelSpec
    view: View = View.VALUE
    axis_state: str | None = None
    name: str | None = None  # a fixed name (a motor device's attributes)

    @property
    def key(self) -> str:
        return attribute_key(self.channel, self.view)

    @property
    def kind(self) -> Kind | None:
        return self.spec.kind


def axis_wants(axis: str, spec: AxisSpec) -> list[Want]:
    """The attributes an ``Axes`` line's axis shows: one per channel, two for its state."""
    wants = []
    for setting in AXIS_SETTINGS:
        channel = f"axis.{axis}.{setting.name}"
        channel_spec = axis_channel_spec(axis, spec, setting.name, setting.kind, setting.unit)
        if setting.shown_from_hash:
            channel_spec = dataclasses.replace(
                channel_spec, setting=SettingSource(f"axis.{axis}", setting.name)
            )
        if setting.name == "position":
            wants.append(Want(channel, channel_spec, View.POSITION, f"axis.{axis}.state"))
        else:
            wants.append(Want(channel, channel_spec))
        if setting.name == "state":
            names_spec = axis_channel_spec(axis, spec, "state names", "str", "")
            wants.append(Want(channel, names_spec, View.STATE_NAMES))
    return wants


def axis_channel_spec(axis: str, spec: AxisSpec, setting: str, kind: str, unit: str) -> ChannelSpec:
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


class Catalogue:
    """The lines of one device and what its globs matched (see the module docstring)."""

    def __init__(self) -> None:
        self._channels: list[ChannelSpec] = []  # channel lines, then glob lines, as given
        self._axes: list[AxisSpec] = []  # axis lines, then axis glob lines
        self._live: dict[str, tuple[str, ...]] = {}  # glob pattern -> live channels it matched
        self._live_axes: dict[str, tuple[str, ...]] = {}  # axis glob pattern -> axes
        self._hidden: set[str] = set()  # channels RemoveChannel hid (see the docstring)
        self.line_errors: list[str] = []

    # ------------------------------------------------------------------ the lines
    def configure(self, channel_lines: list[str], axis_lines: list[str]) -> None:
        """The ``Channels`` and ``Axes`` properties (at start, and at each Init): the lines
        from now on. What the survey found live stays known."""
        specs, channel_errors = parse_lines(channel_lines)
        axes, axis_errors = parse_axis_lines(axis_lines)
        self.line_errors = channel_errors + axis_errors
        self._channels = specs
        self._axes = axes
        self._hidden.clear()

    def add(self, line: str, live: Iterable[str] = ()) -> ChannelSpec:
        """One more ``Channels`` line (``AddChannel``); ``live``: the channels on the server
        now (a glob line's matches are exposed at once). Raises
        :class:`~tango_channels_device.bridge.lines.LineError` (a bad line, a line already
        given) without changing anything."""
        spec = parse_line(line)
        if spec is None:
            raise LineError("empty line")
        if any(s.pattern == spec.pattern for s in self._channels):
            if spec.is_glob:
                raise LineError(f"{spec.pattern!r} is already configured")
            raise LineError(f"channel {spec.pattern!r} is already exposed")
        self._channels.append(spec)
        if spec.is_glob:
            self._live[spec.pattern] = _merged((), (n for n in live if _matches(spec.pattern, n)))
        self._hidden = {c for c in self._hidden if not _matches(spec.pattern, c)}
        return spec

    def add_axis(self, line: str) -> AxisSpec:
        """One more ``Axes`` line. Raises LineError as :meth:`add`."""
        spec = parse_axis_line(line)
        if spec is None:
            raise LineError("empty line")
        if any(a.pattern == spec.pattern for a in self._axes):
            raise LineError(f"axis {spec.pattern!r} is already configured")
        self._axes.append(spec)
        return spec

    def remove(self, name: str) -> None:
        """Stop exposing channel ``name`` (its line, or hide it if a glob or an axis exposes
        it), a glob line's channels (``name`` is its pattern), or axis ``name`` (or an axis
        glob). KeyError if no line and no exposed channel has that name."""
        lines = [s for s in self._channels if s.pattern == name]
        axes = [a for a in self._axes if a.pattern == name]
        if lines or axes:
            self._channels = [s for s in self._channels if s.pattern != name]
            self._axes = [a for a in self._axes if a.pattern != name]
            self._live.pop(name, None)
            self._live_axes.pop(name, None)
            return
        if name in {w.channel for w in self.wanted().values()}:
            self._hidden.add(name)
            return
        raise KeyError(f"no exposed channel, glob or axis {name!r}")

    def discovered(self, channels: dict[str, list[str]], axes: dict[str, list[str]]) -> bool:
        """What the survey found live: the channels each glob pattern matches, the axes each
        axis glob pattern matches. True if that changes what is wanted."""
        # A glob keeps what it matched while it is a line: a channel nobody holds any more
        # is shown as such, not retired (RemoveChannel and Init do that).
        changed = False
        for pattern, names in channels.items():
            if any(s.pattern == pattern for s in self._channels):
                known = self._live.get(pattern, ())
                merged = _merged(known, (n for n in names if fnmatch.fnmatchcase(n, pattern)))
                changed = changed or merged != known
                self._live[pattern] = merged
        for pattern, found in axes.items():
            if any(a.pattern == pattern for a in self._axes):
                known = self._live_axes.get(pattern, ())
                merged = _merged(known, (a for a in found if fnmatch.fnmatchcase(a, pattern)))
                changed = changed or merged != known
                self._live_axes[pattern] = merged
        return changed

    # ------------------------------------------------------------------ what is wanted
    def wanted(self) -> dict[str, Want]:
        """The attributes the lines ask for now, by key (see the module docstring)."""
        wanted: dict[str, Want] = {}

        def want(item: Want) -> None:
            if item.channel not in self._hidden and item.key not in wanted:
                wanted[item.key] = item

        for spec in self._channels:
            if not spec.is_glob:
                want(Want(spec.pattern, spec))
        for axis_spec in self._axes:
            if not axis_spec.is_glob:
                for item in axis_wants(axis_spec.pattern, axis_spec):
                    want(item)
        for spec in self._channels:
            if spec.is_glob:
                for name in self._live.get(spec.pattern, ()):
                    want(Want(name, _glob_spec(spec, name)))
        for axis_spec in self._axes:
            if axis_spec.is_glob:
                for axis in self._live_axes.get(axis_spec.pattern, ()):
                    for item in axis_wants(axis, axis_spec):
                        want(item)
        return wanted

    def refused_globs(self) -> list[str]:
        """Why ``access=rw`` of a glob line was not given to channels it matched."""
        refused = []
        for spec in self._channels:
            if spec.is_glob and spec.writable:
                for name in self._live.get(spec.pattern, ()):
                    if why := refused_write(name):
                        refused.append(f"{why} (access=rw in {spec.line!r})")
                        break
        return refused

    def axes(self) -> list[str]:
        """The axes exposed (by a line or a glob)."""
        return sorted(
            {w.channel.split(".")[1] for w in self.wanted().values() if w.axis_state is not None}
        )

    def default_for(self, channel: str) -> object:
        """What ``ClearCache`` gives ``channel``: its line's ``default``."""
        for spec in self._channels:
            if _matches(spec.pattern, channel):
                return spec.default
        return None

    def plan(self, followed: Iterable[str], settings: Iterable[SettingSource]) -> SurveyPlan:
        """What the survey should look for, with the channels followed and the settings
        fields the device's attributes fall back on."""
        return SurveyPlan(
            globs=tuple(s.pattern for s in self._channels if s.is_glob),
            axis_globs=tuple(a.pattern for a in self._axes if a.is_glob),
            followed=tuple(followed),
            settings=tuple(sorted(set(settings), key=str)),
        )


def _merged(known: tuple[str, ...], found: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({*known, *found}))


def _matches(pattern: str, channel: str) -> bool:
    return pattern == channel or fnmatch.fnmatchcase(channel, pattern)


def _glob_spec(spec: ChannelSpec, channel: str) -> ChannelSpec:
    """A glob line's spec for one of its channels: read-only where writing would lie."""
    if spec.writable and refused_write(channel):
        return dataclasses.replace(spec, writable=False)
    return spec
