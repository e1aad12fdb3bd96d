"""Channel name -> Tango attribute name: one documented rule.

- every character outside ``[A-Za-z0-9_]`` becomes ``_`` (``axis.roby.position`` ->
  ``axis_roby_position``, ``musst_1:last__md5`` -> ``musst_1_last__md5``);
- ``ch_`` is put in front of a name that would start with a digit (or be empty);
- names longer than :data:`MAX_LENGTH` keep their start and end a short hash of the channel
  name, so that long channel names still give distinct, stable attributes;
- a name already taken (Tango names are case-insensitive; ``State``, ``Status`` and the static
  attributes are taken) gets ``_2``, ``_3``... Channels are named in channel-name order, so
  the outcome doesn't depend on the order they were listed or discovered in one go;
- ``attr=`` in a ``Channels`` line chooses the name instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

__all__ = ["MAX_LENGTH", "AttributeNamer", "NameTaken", "attribute_name", "valid_attribute_name"]

MAX_LENGTH = 120
_INVALID = re.compile(r"[^A-Za-z0-9_]")
_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class NameTaken(ValueError):
    """An ``attr=`` name that another attribute already has."""


def attribute_name(channel: str) -> str:
    """The attribute name for ``channel`` before collisions are resolved."""
    name = _INVALID.sub("_", channel)
    if not name or name[0].isdigit():
        name = "ch_" + name
    if len(name) > MAX_LENGTH:
        digest = hashlib.sha1(channel.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        name = f"{name[: MAX_LENGTH - 11]}_{digest}"
    return name


def valid_attribute_name(name: str) -> bool:
    return bool(_VALID.fullmatch(name)) and len(name) <= MAX_LENGTH


class AttributeNamer:
    """Hands out attribute names, never the same one twice (case-insensitively)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = {name.lower() for name in taken}

    def take(self, name: str) -> str:
        """Reserve exactly ``name`` (an ``attr=`` choice)."""
        if name.lower() in self._taken:
            raise NameTaken(f"attribute name {name!r} is already taken")
        self._taken.add(name.lower())
        return name

    def assign(self, channels: Iterable[str]) -> dict[str, str]:
        """Names for ``channels``, given in channel-name order."""
        names = {}
        for channel in sorted(channels):
            base = attribute_name(channel)
            name, suffix = base, 2
            while name.lower() in self._taken:
                name = f"{base}_{suffix}"
                suffix += 1
            self._taken.add(name.lower())
            names[channel] = name
        return names

    def is_taken(self, name: str) -> bool:
        return name.lower() in self._taken
