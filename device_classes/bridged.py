"""What BeaconChannels and BeaconAxis devices have in common: Redis found, the shared
publisher joined, State and Status shown, errors and the audit trail.

A :class:`BridgedDevice` finds its Redis from its properties (``RedisUrl``, ``BeaconHost``,
then the server's environment: :func:`~tango_channels_device.bridge.where.find_redis`), asking
Beacon again every ``BEACON_RETRY`` seconds while it doesn't answer (a beamline often starts
its Tango servers before Beacon); then it makes its Tango-free half (a
:class:`~tango_channels_device.bridge.devices.DeviceBridge`, once per device object: its
attribute table survives Init) and has the server's shared publisher serve it
(:mod:`~tango_channels_device.server`). ``Init`` reads the properties again: the publisher
makes the device's attributes match them, and the channels that stay are never left.

Threads: ``init_device`` and commands run in omniORB threads under the device monitor; they
ask the publisher (and wait for it) with the monitor released (``AutoTangoAllowThreads``): the
publisher may be waiting for the monitor to push. State and Status are the publisher's last
(:meth:`dev_state`, :meth:`dev_status`: no I/O).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import tango
from tango import DevState
from tango.server import Device, device_property

from tango_channels.transport.address import BeaconError, RedisAddress

from . import audit
from .bridge.devices import DeviceBridge
from .bridge.publisher import Publisher, Unanswered
from .bridge.where import find_redis
from .build_info import version_info
from .errors import raise_failed, tango_errors
from .server import Shared, shared

__all__ = ["BEACON_RETRY", "CLASS_DEFAULTS", "INITIAL_WAIT", "BridgedDevice"]

log = logging.getLogger("BeaconChannels")

T = TypeVar("T")

INITIAL_WAIT = 5.0  # seconds init_device waits for the first values (types) of its channels
BEACON_RETRY = 2.0  # seconds between two questions to a Beacon server that did not answer
#: Device properties a class property of the same name gives every device a default of.
CLASS_DEFAULTS = ("RedisUrl", "BeaconHost")


class BridgedDevice(Device):
    """A device the shared publisher serves (see the module docstring). Subclasses make
    their bridge (:meth:`make_bridge`) and say what Init changes (:meth:`configure`)."""

    RedisUrl = device_property(
        dtype=str,
        default_value="",
        doc="redis://host:port/db or unix:///path. Empty: BeaconHost, else the class's "
        "RedisUrl and BeaconHost, else BEACON_HOST, then REDIS_URL in the server's "
        "environment, else redis://localhost:6379/0 (Status says which).",
    )
    BeaconHost = device_property(
        dtype=str,
        default_value="",
        doc="host:port of the Beacon server to ask for its Redis address (as BLISS does).",
    )

    bridge: DeviceBridge | None
    shared: Shared
    #: Seconds init_device waits for the first answers of the device's channels (their
    #: types decide which attributes exist when clients come).
    initial_wait = INITIAL_WAIT

    # ------------------------------------------------------------------ life cycle
    def init_device(self) -> None:
        super().init_device()
        self.shared = shared()
        first = not hasattr(self, "bridge")
        if first:
            # What survives Init: the bridge (the attribute table), the log handler, the
            # count of commands run.
            self.bridge = None
            self.shared.log.add(self)
            self.add_version_info("tango-channels", version_info())
            self.commands_run = 0
            self.first_init()
        else:
            self._audit("Init", lambda: None, lambda _: self.configuration())
        self._stopping = threading.Event()
        self._finder: threading.Thread | None = None
        if self.bridge is None:
            self._not_running("Not running.")
        try:
            address, source = self._find_redis()
        except BeaconError as exc:
            # Beacon may just not be up yet (a whole beamline starting): ask again.
            since = time.strftime("%H:%M:%S")
            self._not_running(f"Cannot find Redis since {since}: {exc}; asking again.")
            log.error("%s: cannot find Redis: %s", self.get_name(), exc, extra=self.about)
            self._finder = threading.Thread(
                target=self._find_redis_forever, name="BeaconChannels Beacon", daemon=True
            )
            self._finder.start()
            return
        except (ValueError, OSError) as exc:
            self._not_running(f"Cannot find Redis: {exc}. Correct the property, then Init.")
            log.error("%s: cannot find Redis: %s", self.get_name(), exc, extra=self.about)
            return
        self._start(address, source)

    def _find_redis(self) -> tuple[RedisAddress, str]:
        """Where Redis is (see :func:`~tango_channels_device.bridge.where.find_redis`), the
        class's ``RedisUrl`` and ``BeaconHost`` the defaults of the device's."""
        defaults: dict[str, str] = {}
        if not self.RedisUrl and not self.BeaconHost:
            defaults = self._class_properties(CLASS_DEFAULTS)
        return find_redis(self.RedisUrl, self.BeaconHost, class_properties=defaults)

    def _class_properties(self, names: tuple[str, ...]) -> dict[str, str]:
        """The class properties ``names`` from the Tango database (none without one)."""
        database = tango.Util.instance().get_database()  # None without a database (-nodb)
        if database is None:
            return {}
        try:
            found = database.get_class_property(type(self).__name__, list(names))
        except tango.DevFailed as exc:
            log.warning("%s: class properties: %s", self.get_name(), exc.args[0].desc)
            return {}
        return {name: values[0] for name, values in found.items() if len(values)}

    def _find_redis_forever(self) -> None:
        """Ask Beacon every BEACON_RETRY seconds until it answers, then start (this thread
        stops at delete_device, which waits for it without holding the monitor)."""
        with tango.EnsureOmniThread():
            while not self._stopping.wait(BEACON_RETRY):
                try:
                    address, source = self._find_redis()
                except (BeaconError, ValueError, OSError) as exc:
                    log.debug("%s: still no Redis: %s", self.get_name(), exc, extra=self.about)
                    continue
                with tango.AutoTangoMonitor(self):
                    if not self._stopping.is_set():
                        self._start(address, source)
                return

    def _start(self, address: RedisAddress, source: str) -> None:
        """Have the publisher serve this device on ``address`` (under the device monitor),
        and wait a moment for the first values of its channels."""
        publisher = self.shared.publisher
        bridge = self.bridge
        if bridge is None:
            try:
                bridge = self.make_bridge(address, source)
            except ValueError as exc:
                self._not_running(f"{exc}. Correct the property, then Init.")
                log.error("%s: %s", self.get_name(), exc, extra=self.about)
                return
        if self.bridge is None and not self.initial_wait:
            # Nothing to wait for (static attributes): the publisher attaches it on its next
            # turn, and a hundred such devices start one after the other without waiting.
            self.bridge = bridge
            publisher.send(lambda: self._attach(publisher, bridge))
            return
        try:
            with tango.AutoTangoAllowThreads(self):
                if self.bridge is None:
                    publisher.call(lambda: self._attach(publisher, bridge))
                else:
                    publisher.call(lambda: self._moved(publisher, bridge, address, source))
                self.bridge = bridge
                # The publisher makes the attributes under the monitor: it has the monitor
                # while the holders answer (their first values decide untyped channels' types).
                if self.initial_wait:
                    publisher.wait_settled(bridge, self.initial_wait)
                state = publisher.call(lambda: publisher.refresh_state(bridge))
        except Unanswered as exc:  # it goes on by itself; Status will say what it shows
            name = self.get_name()
            log.warning("%s: the publisher stayed busy at start (%s)", name, exc, extra=self.about)
            return
        log.info(
            "%s: %s", self.get_name(), " ".join(state.status.splitlines()), extra=self.about
        )

    def _attach(self, publisher: Publisher, bridge: DeviceBridge) -> None:
        """The first start (in the publisher thread): the properties, then served."""
        self.configure(publisher, bridge, first=True)
        publisher.attach(bridge)

    def _moved(
        self, publisher: Publisher, bridge: DeviceBridge, address: RedisAddress, source: str
    ) -> None:
        """Init (in the publisher thread): the properties again, maybe another Redis."""
        attached = bridge in publisher.devices
        if attached and (address, self.trusted_modules()) != (
            bridge.address,
            bridge.trusted_modules,
        ):
            publisher.detach(bridge)
            attached = False
        bridge.address, bridge.source = address, source
        bridge.trusted_modules = self.trusted_modules()
        self.configure(publisher, bridge, first=not attached)
        if not attached:
            publisher.attach(bridge)

    def delete_device(self) -> None:
        # Init keeps the device's place in the publisher (init_device follows at once);
        # the server's end leaves it. Neither waits for the monitor we hold.
        with tango.AutoTangoAllowThreads(self):
            self._stopping.set()
            if self._finder is not None:
                self._finder.join(timeout=10)
            if _shutting_down():
                self.shared.log.remove(self)  # Tango deletes the device after this
                self.closing()
            if _shutting_down() and self.bridge is not None:
                bridge, publisher = self.bridge, self.shared.publisher
                try:
                    publisher.call(lambda: publisher.detach(bridge))
                except Unanswered as exc:
                    log.warning(
                        "%s: leaving the publisher: %s", self.get_name(), exc, extra=self.about
                    )

    # ------------------------------------------------------------------ for subclasses
    def first_init(self) -> None:
        """Once per device object, before the first configuration (events of static
        attributes...)."""

    def make_bridge(self, address: RedisAddress, source: str) -> DeviceBridge:
        raise NotImplementedError

    def closing(self) -> None:
        """The server ends: nothing may touch this device's Tango objects any more."""

    def configure(self, publisher: Publisher, bridge: Any, first: bool) -> None:
        """The properties, to the bridge (in the publisher thread; ``first``: not attached)."""

    def configuration(self) -> str:
        """What Init read again, for the audit trail."""
        return "properties read again"

    def trusted_modules(self) -> tuple[str, ...]:
        return ("bliss.",)

    # ------------------------------------------------------------------ helpers
    @property
    def about(self) -> dict[str, str]:
        """``extra=`` of a log record about this device (its Tango log alone gets it)."""
        return {"device": self.get_name()}

    def running(self) -> tuple[Publisher, Any]:
        """The publisher and this device's bridge, once it runs; NotReady saying why not."""
        bridge = self.bridge
        if bridge is None:
            raise_failed("BeaconChannels_NotReady", self.dev_status(), self.get_name())
        return self.shared.publisher, bridge

    def bus(self) -> Any:
        """The bus of this device's Redis (the publisher's)."""
        publisher, bridge = self.running()
        return publisher.call(lambda: publisher.link_of(bridge).bus)

    def _audit(
        self,
        what: str,
        action: Callable[[], T],
        said: Callable[[T], str],
        doing: str = "",
        origin: str = "",
    ) -> T:
        """Run ``action`` (with the monitor released: it may wait for the publisher), turn
        its errors into DevFailed, and log once, at INFO, who ran ``what`` and what it did
        (``said(result)``) or why it was refused: the audit trail."""
        command_name = what.partition("(")[0].partition(" ")[0]
        doing = doing or f"{command_name} not done"
        origin = origin or f"{type(self).__name__}.{command_name}"
        client = audit.client_of(self)
        try:
            with tango_errors(doing, origin), tango.AutoTangoAllowThreads(self):
                result = action()
        except tango.DevFailed as exc:
            audit.log.info(
                "%s from %s refused: %s", what, client, exc.args[0].desc, extra=self.about
            )
            raise
        self.commands_run += 1
        self.push_change_event("CommandsRun", self.commands_run)
        self.push_archive_event("CommandsRun", self.commands_run)
        audit.log.info("%s from %s: %s", what, client, said(result), extra=self.about)
        return result

    # ------------------------------------------------------------------ State and Status
    def dev_state(self) -> DevState:
        state: DevState = self.get_state()  # as the publisher set it: no attribute is read
        return state

    def dev_status(self) -> str:
        return str(self.get_status())

    def _not_running(self, why: str) -> None:
        """FAULT, saying why: before the publisher serves it, nothing else sets State."""
        self.set_state(DevState.FAULT)
        self.set_status(why)
        self.push_change_event("State", DevState.FAULT)
        self.push_change_event("Status", why)


def _shutting_down() -> bool:
    try:
        return bool(tango.Util.instance().is_svr_shutting_down())
    except (tango.DevFailed, RuntimeError):
        return True
