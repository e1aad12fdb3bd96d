"""BLISS settings: what BLISS persists in Redis hashes, read as BLISS reads it.

BLISS keeps an object's persistent settings in a Redis hash (``settings.HashSetting``): an
axis ``<n>`` in ``axis.<n>``, a shutter in ``shutter:<n>``, an MCA in ``<n>:settings``. Values
are written with ``str()`` (``None`` as the string ``"None"``) and read back with
``bliss.common.utils.auto_coerce``: a boolean, an int or a float when the text is one, else the
text. Beacon's Redis announces no change of these hashes (``notify-keyspace-events ""``), so a
reader polls them: :class:`SettingsPoll` makes the one pipelined round trip for all of them and
remembers when each value changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SettingSource", "SettingsPoll", "auto_coerce"]


def auto_coerce(raw: bytes | str | None) -> Any:
    """A hash field's text as BLISS reads it (``auto_coerce``, then ``"None"`` as None, as an
    axis's settings do)."""
    if raw is None:
        return None
    text: Any = raw
    if isinstance(raw, bytes):
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return raw  # pickled data: BLISS's auto_coerce leaves it as it is
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    for caster in (int, float):
        try:
            return caster(text)
        except ValueError:
            pass
    return None if text == "None" else text


@dataclass(frozen=True)
class SettingSource:
    """A field of a BLISS settings hash (``axis.roby/velocity``)."""

    key: str
    field: str

    @classmethod
    def parse(cls, text: str) -> SettingSource:
        """``<hash key>/<field>``; ValueError saying why not."""
        key, sep, field = text.rpartition("/")
        if not sep or not key or not field:
            raise ValueError(f"setting= must be <hash key>/<field>, not {text!r}")
        return cls(key, field)

    def __str__(self) -> str:
        return f"{self.key}/{self.field}"


@dataclass(frozen=True)
class Persisted:
    """A field's value (None: absent or "None") and since when (``time.time()``) it is so."""

    value: Any
    since: float


class SettingsPoll:
    """The last value of each polled field, and the one round trip that refreshes them."""

    def __init__(self) -> None:
        self._values: dict[SettingSource, tuple[bytes | None, Persisted]] = {}
        self._order: dict[str, list[str]] = {}

    def commands(self, sources: list[SettingSource]) -> list[tuple[Any, ...]]:
        """One ``HMGET`` per hash (to run pipelined, in one round trip)."""
        self._order = _by_key(sources)
        return [("HMGET", key, *fields) for key, fields in self._order.items()]

    def update(self, replies: list[Any], now: float) -> list[SettingSource]:
        """Take the replies of :meth:`commands`; returns the fields whose value changed."""
        changed = []
        for (key, fields), values in zip(self._order.items(), replies, strict=True):
            for field, raw in zip(fields, values, strict=True):
                source = SettingSource(key, field)
                known = self._values.get(source)
                if known is not None and known[0] == raw:
                    continue
                self._values[source] = (raw, Persisted(auto_coerce(raw), now))
                changed.append(source)
        return changed

    def get(self, source: SettingSource) -> Persisted | None:
        """What the hash held at the last poll (None: never polled, or no such field)."""
        known = self._values.get(source)
        return None if known is None or known[0] is None else known[1]


def _by_key(sources: list[SettingSource]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for source in sources:
        fields = by_key.setdefault(source.key, [])
        if source.field not in fields:
            fields.append(source.field)
    return by_key
