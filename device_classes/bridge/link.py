"""One Redis server as the server's devices share it: one bus, one survey, one feed a channel.

Every device of a server that follows the same Redis (with the same ``TrustedModules``) shares
one :class:`Link`: one :class:`~tango_channels.bus.Bus` (its two connections and its reader),
one :class:`~tango_channels_device.bridge.survey.Survey` (its connection and its thread), and
one :class:`~tango_channels_device.bridge.feed.Feed` per channel, whichever devices show it. A
hundred motor devices on one Redis are three connections and two threads, not three hundred
and two hundred.

The link also keeps what its Redis says that no channel carries: the settings hashes' fields
as the survey last read them, the connection as the reader last reported it, and the last
connection error, for Status.

Owner: the publisher thread (feeds, settings, connection, plan, devices); the reader and the
survey thread only hand it what they found (see :mod:`~tango_channels_device.bridge.publisher`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tango_channels.bus import Bus, ConnectionState
from tango_channels.transport.address import RedisAddress

from .attribute import Connection, Context
from .catalogue import SurveyPlan
from .devices import DeviceBridge
from .feed import Feed
from .settings import Persisted, SettingSource, auto_coerce
from .survey import Survey

__all__ = ["Link", "LinkKey"]

LinkKey = tuple[RedisAddress, tuple[str, ...]]  # the address, and the trusted modules
_CONNECTING = Connection(False, "connecting to Redis")
_NOTHING = SurveyPlan()


@dataclass(eq=False)
class Link:
    """One Redis (see the module docstring)."""

    key: LinkKey
    bus: Bus
    survey: Survey | None = None
    feeds: dict[str, Feed] = field(default_factory=dict)
    devices: list[DeviceBridge] = field(default_factory=list)
    # The connection as the reader last reported it (the text for Status), and whether it is
    # lost after having been made (attributes then say so; while connecting they say nothing).
    connection: Connection = _CONNECTING
    outage: bool = False
    last_error: tuple[float, str] | None = None  # when (time.time()), and what
    surveyed: bool = False  # the survey's first findings are in
    planned: bool = False  # plan is what the devices and feeds say now (see replan)
    plan: SurveyPlan = _NOTHING  # a frozen snapshot, replaced whole: read by the survey
    listener: Callable[[ConnectionState, str | None], None] | None = None  # on the bus
    _persisted: dict[SettingSource, tuple[bytes | None, Persisted]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.context = Context(self.persisted)

    @property
    def address(self) -> RedisAddress:
        return self.key[0]

    def persisted(self, source: SettingSource) -> Persisted | None:
        """What the settings hash held at the last poll (None: nothing, or never polled)."""
        known = self._persisted.get(source)
        return None if known is None or known[0] is None else known[1]

    def settings_read(self, values: dict[SettingSource, bytes | None]) -> set[SettingSource]:
        """The survey read ``values``: the fields whose value changed."""
        now = time.time()
        changed = set()
        for source, raw in values.items():
            known = self._persisted.get(source)
            if known is None or known[0] != raw:
                self._persisted[source] = (raw, Persisted(auto_coerce(raw), now))
                changed.add(source)
        return changed

    def connection_changed(self, connected: bool, text: str, error: str | None) -> None:
        """The reader reported the connection (``text``: the bus's own words)."""
        self.connection = Connection(connected, text)
        self.outage = not connected
        if not connected and error:
            self.last_error = (time.time(), error)

    def survey_plan(self) -> SurveyPlan:
        """What its devices look for, together (in one pass over them)."""
        globs: dict[str, None] = {}
        axis_globs: dict[str, None] = {}
        settings: dict[SettingSource, None] = {}
        for device in self.devices:
            plan = device.plan(())
            globs.update(dict.fromkeys(plan.globs))
            axis_globs.update(dict.fromkeys(plan.axis_globs))
            settings.update(dict.fromkeys(plan.settings))
        return SurveyPlan(tuple(globs), tuple(axis_globs), tuple(self.feeds), tuple(settings))
