"""What an attribute shows at one moment: one record from the library to the device's reads
and events.

A :class:`Sample` is a value of the attribute's kind, the time it stands for (when BLISS set
it, or when its state was noticed), a :class:`Quality` (Tango's, without Tango) and, where
there is no value to show, an ``error`` that reads raise. ``absent`` tells the two kinds of
error apart: a value that could not be shown (it doesn't fit the attribute's type, its message
was undecodable) is an error event too; no value at all (none yet, nobody holds one) is pushed
as an ATTR_INVALID event, so that GUIs grey the value out instead of showing an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Quality", "Sample"]


class Quality(enum.Enum):
    """Tango's attribute qualities (``tango.AttrQuality``), by name."""

    VALID = "ATTR_VALID"
    INVALID = "ATTR_INVALID"
    ALARM = "ATTR_ALARM"
    WARNING = "ATTR_WARNING"
    CHANGING = "ATTR_CHANGING"


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of an attribute, as read and as pushed (see the module docstring)."""

    value: Any
    timestamp: float
    quality: Quality
    error: str | None = None
    absent: bool = False

    @classmethod
    def failed(cls, error: str, timestamp: float, absent: bool = False) -> Sample:
        return cls(None, timestamp, Quality.INVALID, error, absent)

    def at(self, timestamp: float) -> Sample:
        """The same sample, standing for another time."""
        return Sample(self.value, timestamp, self.quality, self.error, self.absent)
