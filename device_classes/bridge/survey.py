"""The survey: what the device learns of Redis by asking, every period, on its own connection.

BLISS channels are not listed anywhere and settings hashes announce no change, so the device
asks, in one pipelined round trip each time (the library's RESP connection, one of the
survey's own: the bus's connections carry values and nothing waits behind a survey; the
survey's errors are the library's, and it never reconnects behind anyone's back):

- every ``discovery_period``: which live channels each glob matches (``PUBSUB CHANNELS``) and
  how many subscribers each followed channel has (``PUBSUB NUMSUB``: the bus then asks who
  holds a channel whose count dropped, see :mod:`tango_channels.protocol`);
- every ``settings_period``: the settings fields attributes fall back on (one ``HMGET`` per
  hash);
- every ``AXIS_SCAN_PERIOD``: the axes whose settings hash exists (``SCAN``, never ``KEYS``), so
  that axes appear when no session runs.

What it should look for comes as a :class:`~tango_channels_device.bridge.catalogue.SurveyPlan`
snapshot (``plan()``), what it found goes to ``found(findings)``, the publisher's: the survey
thread owns nothing but its connection and its clocks.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tango_channels.transport.address import RedisAddress
from tango_channels.transport.resp import RedisError, RespConnection

from .catalogue import SurveyPlan
from .settings import SettingSource

__all__ = ["AXIS_SCAN_PERIOD", "Findings", "Survey"]

log = logging.getLogger(__name__)

AXIS_SCAN_PERIOD = 30.0  # seconds between two SCANs for axes known only by their hash
_SCAN_COUNT = 1000


@dataclass
class Findings:
    """One look at Redis: the live channels of each glob pattern, the axes of each axis glob
    pattern, and the settings fields' raw values (None: not asked this time)."""

    channels: dict[str, list[str]] = field(default_factory=dict)
    axes: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[SettingSource, bytes | None] | None = None


class Survey:
    """See the module docstring. ``subscribers(counts, asked_at)`` is the bus's
    :meth:`~tango_channels.bus.Bus.subscribers_seen`."""

    def __init__(
        self,
        address: RedisAddress,
        plan: Callable[[], SurveyPlan],
        found: Callable[[Findings], None],
        subscribers: Callable[[dict[str, int], float], None],
        *,
        discovery_period: float = 2.0,
        settings_period: float = 2.0,
        timeout: float = 2.0,
        client_name: str | None = None,
        thread_context: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.address = address
        self.discovery_period = discovery_period
        self.settings_period = settings_period
        self._plan = plan
        self._found = found
        self._subscribers = subscribers
        self._connection = RespConnection(address, timeout=timeout, client_name=client_name)
        self._thread_context = thread_context or contextlib.nullcontext
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="BeaconChannels survey", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._connection.close()

    def look(self, settings: bool = True, axes: bool = False) -> Findings:
        """One look at Redis now (see the module docstring); raises ``ConnectionError``,
        ``TimeoutError`` or :class:`~tango_channels.transport.resp.RedisError`."""
        plan = self._plan()
        commands: list[tuple[Any, ...]] = []
        for pattern in plan.globs:
            commands.append(("PUBSUB", "CHANNELS", pattern.encode()))
        for pattern in plan.axis_globs:
            commands.append(("PUBSUB", "CHANNELS", f"axis.{pattern}.*".encode()))
        if plan.followed:
            commands.append(("PUBSUB", "NUMSUB", *(n.encode() for n in plan.followed)))
        keys: dict[str, list[str]] = {}
        if settings:
            for source in plan.settings:
                keys.setdefault(source.key, []).append(source.field)
            for key, fields in keys.items():
                commands.append(("HMGET", key.encode(), *(f.encode() for f in fields)))
        asked = time.monotonic()  # counts taken after this: subscriptions confirmed before
        replies = self._call(commands) if commands else []
        findings = Findings()
        at = 0
        for pattern in plan.globs:
            findings.channels[pattern] = sorted(_text(n) for n in replies[at])
            at += 1
        for pattern in plan.axis_globs:
            live = {_text(n).split(".")[1] for n in replies[at]}
            findings.axes[pattern] = sorted(live)
            at += 1
        if plan.followed:
            flat = replies[at]
            counts = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
            self._subscribers(counts, asked)
            at += 1
        if settings:
            findings.settings = {}
            for key, fields in keys.items():
                for field_name, raw in zip(fields, replies[at], strict=True):
                    findings.settings[SettingSource(key, field_name)] = raw
                at += 1
        if axes:
            for pattern in plan.axis_globs:
                findings.axes.setdefault(pattern, [])
                findings.axes[pattern] = sorted(
                    set(findings.axes[pattern]) | set(self._axes_with_a_hash(pattern))
                )
        return findings

    def _axes_with_a_hash(self, pattern: str) -> list[str]:
        """Axes whose settings hash exists, whether or not a session holds them now (``SCAN``,
        never ``KEYS``: one short step at a time)."""
        found = set()
        cursor = b"0"
        while True:
            cursor, keys = self._call(
                [("SCAN", cursor, "MATCH", f"axis.{pattern}", "COUNT", _SCAN_COUNT, "TYPE", "hash")]
            )[0]
            for key in keys:
                axis = _text(key)[len("axis.") :]
                if "." not in axis:
                    found.add(axis)
            if cursor == b"0":
                return sorted(found)

    def _call(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """``commands`` pipelined on the survey's connection (made again after a failure)."""
        if not self._connection.connected:
            self._connection.connect()
        return self._connection.call_many(*commands)

    def _run(self) -> None:
        with self._thread_context():
            next_settings = next_axes = time.monotonic()
            first = True
            while first or not self._stopped.wait(
                min(self.discovery_period, self.settings_period)
            ):
                first = False
                now = time.monotonic()
                settings, axes = now >= next_settings, now >= next_axes
                if settings:
                    next_settings = now + self.settings_period
                if axes:
                    next_axes = now + AXIS_SCAN_PERIOD
                try:
                    self._found(self.look(settings, axes))
                except (RedisError, ConnectionError, TimeoutError, OSError) as exc:
                    log.warning("surveying Redis at %s: %s", self.address, exc)
                except Exception:  # a bug of ours: say so, and keep surveying
                    log.exception("surveying Redis at %s failed", self.address)


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
