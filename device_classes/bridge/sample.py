"""What an attribute shows at one moment: one record from the library to the device's reads
and events.

A :class:`Sample` is a value of the attribute's kind, the time it stands for (when BLISS set
it, or when its state was noticed), a :class:`Quality` (Tango's, without Tango) and, where
there is no value to show, an ``error`` that reads raise, with its ``reason`` (the Tango error
reason clients see). ``absent`` tells the two kinds of error apart: a value that could not be
shown (it doesn't fit the attribute's type, its message was undecodable, Redis is unreachable)
is an error event too; no value at all (none yet, nobody holds one) is pushed as an
ATTR_INVALID event, so that GUIs grey the value out instead of showing an error.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["NO_VALUE", "REDIS_UNREACHABLE", "RETIRED", "VALUE_ERROR", "Quality", "Sample"]

#: The reasons of the errors samples carry, as clients see them (``DevError.reason``).
NO_VALUE = "BeaconChannels_NoValue"
VALUE_ERROR = "BeaconChannels_ValueError"
REDIS_UNREACHABLE = "BeaconChannels_RedisUnreachable"
RETIRED = "BeaconChannels_Retired"  # no line matches the attribute's channel any more


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
    reason: str = VALUE_ERROR

    @classmethod
    def failed(
        cls, error: str, timestamp: float, absent: bool = False, reason: str | None = None
    ) -> Sample:
        reason = reason or (NO_VALUE if absent else VALUE_ERROR)
        return cls(None, timestamp, Quality.INVALID, error, absent, reason)

    def at(self, timestamp: float) -> Sample:
        """The same sample, standing for another time."""
        return Sample(self.value, timestamp, self.quality, self.error, self.absent, self.reason)

    def with_quality(self, quality: Quality) -> Sample:
        return Sample(self.value, self.timestamp, quality, self.error, self.absent, self.reason)
