"""The ``Channels`` property: one line per channel (or glob), as people edit it in Jive.

    <channel name or glob> [attr=<AttrName>] [type=<t>] [access=read|rw] [default=<JSON>]
                           [unit=<u>] [format=<f>] [label=<l>] [description=<d>]

Examples::

    axis.roby.position type=float access=rw unit=mm
    musst_1:last__md5
    axis.*.state type=state
    "channel with spaces" label="A channel" default='{"gain": 2}'

Words are split as a POSIX shell would (quotes group words). A glob (``*``, ``?``, ``[...]``)
exposes every live channel it matches. Blank lines and lines starting with ``#`` are ignored.
``default`` is the value :meth:`ClearCache` restores: JSON (``default=0.5``, ``default=null``,
``default='{"gain": 2}'``), or plain text for a string (``default=none`` is the string
``"none"``). It is never offered to other processes as the channel's value. Errors say what
is wrong and quote the line.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from .kinds import Kind, KindError, parse_kind
from .naming import valid_attribute_name

__all__ = ["ChannelSpec", "LineError", "is_glob", "parse_line", "parse_lines"]

_KEYS = ("attr", "type", "access", "default", "unit", "format", "label", "description")
_NO_DEFAULT = object()


class LineError(ValueError):
    """A ``Channels`` line that can't be used; the message quotes it."""


def is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


@dataclass(frozen=True)
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

    @property
    def is_glob(self) -> bool:
        return is_glob(self.pattern)


def parse_line(line: str) -> ChannelSpec | None:
    """The spec a line gives, or None for a blank or comment line; :class:`LineError`."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    quoted = f"'{text}'"
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise LineError(f"{exc} in {quoted}") from None
    pattern, options = words[0], words[1:]
    # Not channel names but a mistake: an empty one ("" type=float), or a line whose name was
    # forgotten (type=float), which would otherwise wait for ever on a channel of that name.
    if not pattern:
        raise LineError(f"the channel name is empty in {quoted}")
    if pattern.partition("=")[0] in _KEYS:
        raise LineError(f"the channel name is missing (the line starts with an option) in {quoted}")
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise LineError(f"{option!r} is not key=value in {quoted}")
        if key not in _KEYS:
            raise LineError(f"unknown key {key!r} in {quoted} (known: {', '.join(_KEYS)})")
        if key in values:
            raise LineError(f"{key}= given twice in {quoted}")
        values[key] = value
    try:
        kind = parse_kind(values["type"]) if "type" in values else None
    except KindError as exc:
        raise LineError(f"{exc} in {quoted}") from None
    access = values.get("access", "read")
    if access not in ("read", "rw"):
        raise LineError(f"access must be read or rw, not {access!r}, in {quoted}")
    if access == "rw" and kind is not None and not kind.writable:
        raise LineError(f"a type={kind.name} channel can't be written (access=rw) in {quoted}")
    attr = values.get("attr")
    if attr is not None:
        if is_glob(pattern):
            raise LineError(f"attr= names one attribute, not a glob's many, in {quoted}")
        if not valid_attribute_name(attr) or attr.lower() in ("state", "status"):
            raise LineError(f"attr={attr!r} is not a usable attribute name in {quoted}")
    default: Any = None
    if "default" in values:
        text = values["default"]
        try:
            default = json.loads(text)
        except ValueError as exc:
            if text[:1] in ("{", "[", '"'):
                raise LineError(f"default= is not valid JSON ({exc}) in {quoted}") from None
            default = text  # plain text: a string
    return ChannelSpec(
        pattern=pattern,
        line=text,
        attr=attr,
        kind=kind,
        writable=access == "rw",
        default=default,
        unit=values.get("unit", ""),
        format=values.get("format", ""),
        label=values.get("label", ""),
        description=values.get("description", ""),
    )


def parse_lines(lines: list[str]) -> tuple[list[ChannelSpec], list[str]]:
    """All the specs of a ``Channels`` property, and one error per bad line.

    A bad line is reported (``"line 3: unknown type 'flaot' in '...'"``) and skipped: the
    others still work. A channel named on two lines keeps the first.
    """
    specs: list[ChannelSpec] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        try:
            spec = parse_line(line)
        except LineError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if spec is None:
            continue
        if spec.pattern in seen:
            errors.append(
                f"line {number}: {spec.pattern!r} is already on line {seen[spec.pattern]}"
            )
            continue
        seen[spec.pattern] = number
        specs.append(spec)
    return specs, errors
