"""Tango's event criteria and alarm limits, applied as cppTango applies them to a polled
attribute, to the samples the device pushes itself.

An operator sets them in the attribute's configuration (Jive, dsconfig
``attribute_properties``, a client's ``set_attribute_config``, or ``Channels`` line options as
defaults): ``abs_change``/``rel_change`` for change events, ``archive_abs_change``/
``archive_rel_change``/``archive_period`` for archive events, ``min_alarm``/``max_alarm`` and
``min_warning``/``max_warning`` for the quality. Their text is Tango's (``"Not specified"``,
``"0.5"``, or ``"-0.1,0.2"`` for different thresholds down and up); :meth:`Criteria.parse` reads
it.

The rules (:class:`EventFilter`):

- a numeric value (int, float, and arrays of them) makes an event when it differs from the last
  one that made an event by at least the absolute or relative threshold (per element, for an
  array; a new shape always does); with no threshold configured, every numeric sample does;
- anything else (text, booleans, states, enums) makes an event when it changes;
- a change of quality, an error, and the first sample always make an event;
- archive events follow the archive criteria the same way, and also come every
  ``archive_period`` (:meth:`EventFilter.archive_due`: the held value at the current time).

Alarm limits turn a VALID (or CHANGING) numeric scalar into ALARM or WARNING quality, with a
sentence saying why (:func:`alarm_of`). Pure functions and small state: no Tango, no clock.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from .sample import Quality, Sample

__all__ = ["FIELDS", "NO_CRITERIA", "Criteria", "EventFilter", "alarm_of"]

Thresholds = tuple[float, float]  # (down, up): a change <= down or >= up


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None  # "Not specified", ""
    return value if math.isfinite(value) else None


def _thresholds(text: str) -> Thresholds | None:
    parts = [p.strip() for p in text.split(",")]
    numbers = [_number(p) for p in parts]
    if not numbers or any(n is None for n in numbers):
        return None
    if len(numbers) == 1:
        (one,) = numbers
        assert one is not None
        return (-abs(one), abs(one)) if one else None
    down, up = numbers[0], numbers[1]
    assert down is not None and up is not None
    return (-abs(down), abs(up))


@dataclass(frozen=True)
class Criteria:
    """An attribute's event criteria and alarm limits (None: not specified)."""

    abs_change: Thresholds | None = None
    rel_change: Thresholds | None = None
    archive_abs_change: Thresholds | None = None
    archive_rel_change: Thresholds | None = None
    archive_period: float | None = None  # seconds
    min_alarm: float | None = None
    max_alarm: float | None = None
    min_warning: float | None = None
    max_warning: float | None = None

    @classmethod
    def parse(cls, config: Any) -> Criteria:
        """From an object with Tango's attribute configuration fields as text (PyTango's
        ``MultiAttrProp``, as ``Attribute.get_properties()`` gives it)."""
        return _parsed(tuple(str(getattr(config, name)) for name in FIELDS))

    @property
    def has_alarms(self) -> bool:
        return any(
            limit is not None
            for limit in (self.min_alarm, self.max_alarm, self.min_warning, self.max_warning)
        )

    @property
    def has_change(self) -> bool:
        return self.abs_change is not None or self.rel_change is not None



#: The configuration fields criteria come from (Tango's names), in the order _parsed takes them.
FIELDS = (
    "abs_change",
    "rel_change",
    "archive_abs_change",
    "archive_rel_change",
    "archive_period",
    "min_alarm",
    "max_alarm",
    "min_warning",
    "max_warning",
)


NO_CRITERIA = Criteria()  # frozen: one object for every attribute that has none yet


@functools.lru_cache(maxsize=1024)
def _parsed(texts: tuple[str, ...]) -> Criteria:
    """Criteria from their texts: one object per set of texts (most attributes share the
    defaults), parsed once."""
    (
        absolute,
        relative,
        archive_absolute,
        archive_relative,
        period_text,
        min_alarm,
        max_alarm,
        min_warning,
        max_warning,
    ) = texts
    period = _number(period_text)
    return Criteria(
        abs_change=_thresholds(absolute),
        rel_change=_thresholds(relative),
        archive_abs_change=_thresholds(archive_absolute),
        archive_rel_change=_thresholds(archive_relative),
        archive_period=period / 1000 if period and period > 0 else None,
        min_alarm=_number(min_alarm),
        max_alarm=_number(max_alarm),
        min_warning=_number(min_warning),
        max_warning=_number(max_warning),
    )


def alarm_of(value: Any, quality: Quality, criteria: Criteria, name: str) -> tuple[Quality, str]:
    """The quality ``value`` has under the alarm limits, and why ("" when none applies)."""
    if quality not in (Quality.VALID, Quality.CHANGING) or not _scalar_number(value):
        return quality, ""
    for limit, what, above, raised in (
        (criteria.max_alarm, "max_alarm", True, Quality.ALARM),
        (criteria.min_alarm, "min_alarm", False, Quality.ALARM),
        (criteria.max_warning, "max_warning", True, Quality.WARNING),
        (criteria.min_warning, "min_warning", False, Quality.WARNING),
    ):
        if limit is not None and (value > limit if above else value < limit):
            side = "above" if above else "below"
            return raised, f"{name} = {value:g} is {side} {what} {limit:g}"
    return quality, ""


def _scalar_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _changed(old: Any, new: Any, absolute: Thresholds | None, relative: Thresholds | None) -> bool:
    """Whether ``new`` differs from ``old`` by at least a threshold (numbers, arrays)."""
    if _scalar_number(old) and _scalar_number(new):
        pairs: list[tuple[float, float]] = [(float(old), float(new))]
    else:
        if getattr(old, "shape", None) != getattr(new, "shape", None):
            return True
        pairs = list(zip(old.ravel().tolist(), new.ravel().tolist(), strict=True))
    for before, after in pairs:
        delta = after - before
        if absolute is not None and (delta <= absolute[0] or delta >= absolute[1]):
            return True
        if relative is not None:
            if before == 0:
                if after != 0:
                    return True
                continue
            percent = delta / abs(before) * 100
            if percent <= relative[0] or percent >= relative[1]:
                return True
    return False


def _different(old: Any, new: Any) -> bool:
    if hasattr(old, "shape") or hasattr(new, "shape"):
        return getattr(old, "shape", None) != getattr(new, "shape", None) or bool(
            (old != new).any()
        )
    return bool(old != new)


class EventFilter:
    """Which samples of one attribute make change and archive events (see the module
    docstring). Each method is told the sample and, for archive events, the time.
    ``numeric``: whether the attribute's values are numbers (its kind's)."""

    __slots__ = ("_archive", "_change", "archived_at", "criteria", "numeric")

    def __init__(self, numeric: bool) -> None:
        self.numeric = numeric
        self.criteria = NO_CRITERIA
        self._change: Sample | None = None  # the sample of the last change event
        self._archive: Sample | None = None  # the sample of the last archive event
        self.archived_at = -math.inf  # when the last archive event was pushed

    def change(self, sample: Sample) -> bool:
        """Whether ``sample`` makes a change event (it is then the new reference)."""
        criteria = self.criteria
        if self._makes_event(self._change, sample, criteria.abs_change, criteria.rel_change,
                             criteria.has_change):
            self._change = sample
            return True
        return False

    def archive(self, sample: Sample, now: float) -> bool:
        """Whether ``sample`` makes an archive event now (its period counts too)."""
        criteria = self.criteria
        due = self.archive_due(now)
        if due or self._makes_event(
            self._archive,
            sample,
            criteria.archive_abs_change,
            criteria.archive_rel_change,
            criteria.archive_abs_change is not None or criteria.archive_rel_change is not None,
            period_only=criteria.archive_period is not None,
        ):
            self._archive = sample
            self.archived_at = now
            return True
        return False

    def archive_due(self, now: float) -> bool:
        """Whether ``archive_period`` has passed since the last archive event."""
        period = self.criteria.archive_period
        return period is not None and now - self.archived_at >= period

    def _makes_event(
        self,
        last: Sample | None,
        sample: Sample,
        absolute: Thresholds | None,
        relative: Thresholds | None,
        configured: bool,
        period_only: bool = False,
    ) -> bool:
        if last is None or sample.error or last.error:
            return True  # the first, and errors (and the end of one), always
        if sample.quality is not last.quality:
            return True
        if sample.value is None or last.value is None:
            return sample.value is not last.value
        if not self.numeric:
            return _different(last.value, sample.value)
        if not configured:
            # No threshold: every sample, unless only a period is configured.
            return not period_only
        return _changed(last.value, sample.value, absolute, relative)
