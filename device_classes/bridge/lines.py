"""The ``Channels`` and ``Axes`` properties: one line per channel (or glob) or per axis, as
people edit them in Jive.

    <channel name or glob> [attr=<AttrName>] [type=<t>] [access=read|rw] [default=<JSON>]
                           [unit=<u>] [format=<f>] [label=<l>] [description=<d>]
                           [setting=<hash key>/<field>] [<Tango attribute property>=<value>]

    <axis name or glob> [unit=<u>] [format=<f>] [label=<l>]

Examples::

    axis.roby.position type=float unit=mm abs_change=0.001 archive_period=60000
    musst_1:last__md5
    axis.*.state type=state
    safshut:state setting=shutter:safshut/state
    "channel with spaces" label="A channel" default='{"gain": 2}'

    roby unit=mm format=%.3f label="Sample x"
    rob* unit=mm

Words are split as a POSIX shell would (quotes group words). A glob (``*``, ``?``, ``[...]``)
exposes every live channel it matches. Blank lines and lines starting with ``#`` are ignored.
``default`` is the value :meth:`ClearCache` restores: JSON (``default=0.5``, ``default=null``,
``default='{"gain": 2}'``), or plain text for a string (``default=none`` is the string
``"none"``). It is never offered to other processes as the channel's value. ``setting=``
names where the BLISS object persists the value (see :mod:`tango_channels_device.bridge.settings`),
shown while no BLISS process holds the channel. The Tango attribute properties
(:data:`ATTRIBUTE_PROPERTIES`: event criteria, alarm and value limits) become the attribute's
defaults, which the Tango database or a client's ``set_attribute_config`` override, as always
in Tango. ``access=rw`` on a BLISS axis setting or state is refused: BLISS takes a value
written there as an event only (see :mod:`tango_channels_device.bridge.axes`). Errors say what is
wrong and quote the line.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .axes import axis_setting_of
from .kinds import Kind, KindError, parse_kind
from .naming import valid_attribute_name
from .settings import SettingSource

__all__ = [
    "ATTRIBUTE_PROPERTIES",
    "AxisSpec",
    "ChannelSpec",
    "LineError",
    "is_glob",
    "parse_axis_lines",
    "parse_line",
    "parse_lines",
    "refused_write",
]

#: Tango attribute properties a line may give (criteria and limits), and the type of each.
ATTRIBUTE_PROPERTIES = {
    "abs_change": float,
    "rel_change": float,
    "archive_abs_change": float,
    "archive_rel_change": float,
    "archive_period": int,  # ms
    "min_alarm": float,
    "max_alarm": float,
    "min_warning": float,
    "max_warning": float,
    "min_value": float,
    "max_value": float,
}
_KEYS = (
    "attr",
    "type",
    "access",
    "default",
    "unit",
    "format",
    "label",
    "description",
    "setting",
    *ATTRIBUTE_PROPERTIES,
)
_AXIS_KEYS = ("unit", "format", "label")


class LineError(ValueError):
    """A ``Channels`` line that can't be used; the message quotes it."""


def is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One parsed ``Channels`` line."""

    pattern: str
    line: str
    attr: str | None = None
    kind: Kind | None = None
    writable: bool = False
    default: Any = None
    unit: str = ""
    format: str = ""
    label: str = ""
    description: str = ""
    setting: SettingSource | None = None
    properties: tuple[tuple[str, str], ...] = ()  # Tango attribute properties, as text

    @property
    def is_glob(self) -> bool:
        return is_glob(self.pattern)


@dataclass(frozen=True, slots=True)
class AxisSpec:
    """One parsed ``Axes`` line: an axis name or glob, and how to show its values."""

    pattern: str
    line: str
    unit: str = ""
    format: str = ""
    label: str = ""

    @property
    def is_glob(self) -> bool:
        return is_glob(self.pattern)


def refused_write(channel: str) -> str | None:
    """Why ``access=rw`` can't be given to ``channel`` (None: it can)."""
    setting = axis_setting_of(channel)
    if setting is None:
        return None
    if setting == "state":
        return (
            f"{channel} is a BLISS axis state: a value written on its channel would mark the "
            "axis as moving (or not) in every BLISS session without moving it; BLISS sets it"
        )
    return (
        f"{channel} is a BLISS axis setting: a value written on its channel is only an "
        "event in BLISS; change it in BLISS"
    )


def _words(line: str) -> tuple[str, list[str], str] | None:
    """A line's words as a shell splits them, its name first (None: blank or comment)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    quoted = f"'{text}'"
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise LineError(f"{exc} in {quoted}") from None
    return words[0], words[1:], text


def _options(options: list[str], keys: tuple[str, ...], quoted: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise LineError(f"{option!r} is not key=value in {quoted}")
        if key not in keys:
            raise LineError(f"unknown key {key!r} in {quoted} (known: {', '.join(keys)})")
        if key in values:
            raise LineError(f"{key}= given twice in {quoted}")
        values[key] = value
    return values


def _parsed(
    line: str, what: str, keys: tuple[str, ...]
) -> tuple[str, dict[str, str], str] | None:
    """A line's name, its options and the line quoted (None: blank or comment)."""
    words = _words(line)
    if words is None:
        return None
    pattern, options, text = words
    quoted = f"'{text}'"
    _check_name(pattern, what, keys, quoted)
    return pattern, _options(options, keys, quoted), quoted


def parse_line(line: str) -> ChannelSpec | None:
    """The spec a line gives, or None for a blank or comment line; :class:`LineError`."""
    parsed = _parsed(line, "channel", _KEYS)
    if parsed is None:
        return None
    pattern, values, quoted = parsed
    try:
        kind = parse_kind(values["type"]) if "type" in values else None
    except KindError as exc:
        raise LineError(f"{exc} in {quoted}") from None
    access = values.get("access", "read")
    if access not in ("read", "rw"):
        raise LineError(f"access must be read or rw, not {access!r}, in {quoted}")
    if access == "rw" and kind is not None and not kind.writable:
        raise LineError(f"a type={kind.name} channel can't be written (access=rw) in {quoted}")
    if access == "rw" and not is_glob(pattern) and (why := refused_write(pattern)):
        raise LineError(f"{why} (access=rw in {quoted})")
    attr = values.get("attr")
    if attr is not None:
        if is_glob(pattern):
            raise LineError(f"attr= names one attribute, not a glob's many, in {quoted}")
        if not valid_attribute_name(attr) or attr.lower() in ("state", "status"):
            raise LineError(f"attr={attr!r} is not a usable attribute name in {quoted}")
    default: Any = None
    if "default" in values:
        given = values["default"]
        try:
            default = json.loads(given)
        except ValueError as exc:
            if given[:1] in ("{", "[", '"'):
                raise LineError(f"default= is not valid JSON ({exc}) in {quoted}") from None
            default = given  # plain text: a string
    setting = None
    if "setting" in values:
        try:
            setting = SettingSource.parse(values["setting"])
        except ValueError as exc:
            raise LineError(f"{exc} in {quoted}") from None
    properties = []
    for key, convert in ATTRIBUTE_PROPERTIES.items():
        if key in values and key != "archive_period" and kind is not None and not kind.numeric:
            raise LineError(
                f"{key}= applies to numbers; a type={kind} channel makes an event when it "
                f"changes, in {quoted}"
            )
        if key in values:
            try:
                convert(values[key])
            except ValueError:
                number = "a whole number (ms)" if convert is int else "a number"
                raise LineError(
                    f"{key}= must be {number}, not {values[key]!r}, in {quoted}"
                ) from None
            properties.append((key, values[key]))
    return ChannelSpec(
        pattern=pattern,
        line=quoted[1:-1],
        attr=attr,
        kind=kind,
        writable=access == "rw",
        default=default,
        unit=values.get("unit", ""),
        format=values.get("format", ""),
        label=values.get("label", ""),
        description=values.get("description", ""),
        setting=setting,
        properties=tuple(properties),
    )


def _check_name(name: str, what: str, keys: tuple[str, ...], quoted: str) -> None:
    # Not names but a mistake: an empty one ("" type=float), or a line whose name was
    # forgotten (type=float), which would otherwise wait for ever on a channel of that name.
    if not name:
        raise LineError(f"the {what} name is empty in {quoted}")
    if name.partition("=")[0] in keys:
        raise LineError(f"the {what} name is missing (the line starts with an option) in {quoted}")


def parse_axis_line(line: str) -> AxisSpec | None:
    """The axis spec an ``Axes`` line gives, or None for a blank or comment line."""
    parsed = _parsed(line, "axis", _AXIS_KEYS)
    if parsed is None:
        return None
    pattern, values, quoted = parsed
    if "." in pattern or ":" in pattern:
        raise LineError(f"{pattern!r} is not an axis name (roby, rob*) in {quoted}")
    return AxisSpec(pattern, quoted[1:-1], **values)


def parse_axis_lines(lines: list[str]) -> tuple[list[AxisSpec], list[str]]:
    """All the specs of an ``Axes`` property, and one error per bad line (``"Axes line 2:
    ..."``); an axis named on two lines keeps the first."""
    return _parse_all(lines, parse_axis_line, "Axes line")


def parse_lines(lines: list[str]) -> tuple[list[ChannelSpec], list[str]]:
    """All the specs of a ``Channels`` property, and one error per bad line.

    A bad line is reported (``"line 3: unknown type 'flaot' in '...'"``) and skipped: the
    others still work. A channel named on two lines keeps the first.
    """
    return _parse_all(lines, parse_line, "line")


S = TypeVar("S", ChannelSpec, AxisSpec)


def _parse_all(
    lines: list[str], parse: Callable[[str], S | None], what: str
) -> tuple[list[S], list[str]]:
    specs: list[S] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        try:
            spec = parse(line)
        except LineError as exc:
            errors.append(f"{what} {number}: {exc}")
            continue
        if spec is None:
            continue
        if spec.pattern in seen:
            first = seen[spec.pattern]
            errors.append(f"{what} {number}: {spec.pattern!r} is already on {what} {first}")
            continue
        seen[spec.pattern] = number
        specs.append(spec)
    return specs, errors
