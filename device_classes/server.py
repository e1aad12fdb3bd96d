"""What the devices of one server share: the publisher, one bus per Redis, the limits writer.

Tango runs every device of a server in one process. Its BeaconChannels and BeaconAxis
devices share one :class:`~tango_channels_device.bridge.publisher.Publisher` (one thread
pushes every event), which keeps one bus and one survey per Redis they follow, however many
devices follow it (:mod:`~tango_channels_device.bridge.link`), and one :class:`LimitsWriter`
thread for the motor devices' limits. :func:`shared` makes them when the first device starts;
they live as long as the process (a device leaving at the server's end detaches from them).

This is the server's one registry: devices are made by Tango, not by us, so they find what
they share here. Its threads are omniORB's (``tango.EnsureOmniThread``): they push events and
change attribute configurations.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import tango

from tango_channels import Bus
from tango_channels.transport.address import RedisAddress

from .bridge.publisher import Publisher
from .tango_log import TangoLog

__all__ = ["LimitsWriter", "Shared", "shared"]

log = logging.getLogger("BeaconChannels")

_lock = threading.Lock()
_shared: Shared | None = None


class LimitsWriter:
    """Applies attribute configuration changes (a motor's limits) in a thread of its own.

    Setting an attribute's ``min_value``/``max_value`` writes the Tango database (cppTango's
    ``set_upd_properties``, which also pushes the attribute configuration event): a round trip
    to the database, which may be slow or down. The publisher must never wait for that, so it
    hands each change here (the latest per device wins) and goes on.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="BeaconChannels limits", daemon=True
        )
        self._thread.start()

    def submit(self, change: Callable[[], None]) -> None:
        self._queue.put(change)

    def _run(self) -> None:
        with tango.EnsureOmniThread():
            while True:
                change = self._queue.get()
                if change is None:
                    return
                try:
                    change()
                except tango.DevFailed as exc:
                    log.warning("attribute configuration not changed: %s", exc.args[0].desc)
                except Exception:  # a bug of ours: say so, keep writing
                    log.exception("attribute configuration not changed")


class Shared:
    """The publisher, the limits writer and the Tango logging of this server (see the module
    docstring)."""

    def __init__(self) -> None:
        self.publisher = Publisher(self._bus, thread_context=tango.EnsureOmniThread)
        self.publisher.start()
        self.limits = LimitsWriter()
        self.log = TangoLog()  # the devices' Tango logging, one handler for all
        self.log.attach()

    @staticmethod
    def _bus(address: RedisAddress, trusted_modules: tuple[str, ...]) -> Bus:
        try:
            server = tango.Util.instance().get_ds_name()
        except (tango.DevFailed, RuntimeError):
            server = "BeaconChannels"
        return Bus(
            address,
            reader_context=tango.EnsureOmniThread,
            client_name=f"BeaconChannels:{server}".replace(" ", "_"),
            trusted_modules=trusted_modules,
        )


def shared() -> Shared:
    """This server's :class:`Shared`, made on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Shared()
        return _shared
