"""The one process-wide registry BLISS's API needs.

``Channel(name)`` without a bus, ``Cache(obj, key)`` and ``clear_cache(obj)`` work in BLISS
without being told where anything is: one bus per Redis server and process, the default server
resolved once, and the caches of each object remembered for ``clear_cache``. That state has to
be process-wide; here it is in one object, behind one lock, and nowhere else.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Generic, TypeVar

from .bus import Bus, ConnectionState
from .transport.address import RedisAddress, resolve

__all__ = ["Registry"]

C = TypeVar("C")


class Registry(Generic[C]):
    """Buses by address, the default address, and the cache channels (of type ``C``) of each
    object. Every method takes the one lock; none holds it across I/O but the first
    resolution of the default address (Beacon's answer), which every later caller needs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buses: dict[RedisAddress, Bus] = {}
        self._default: RedisAddress | None = None
        self._caches: weakref.WeakKeyDictionary[Any, list[C]] = weakref.WeakKeyDictionary()

    def bus_for(self, redis: Any = None) -> Bus:
        """The process's bus for a Redis server, created on first use (``None``: the default
        address, resolved once: ``BEACON_HOST``, ``REDIS_URL``, localhost)."""
        with self._lock:
            if redis is not None:
                address = resolve(redis)
            else:
                if self._default is None:
                    self._default = resolve(None)
                address = self._default
            bus = self._buses.get(address)
            if bus is None or bus.state is ConnectionState.CLOSED:
                bus = self._buses[address] = Bus(address)
            return bus

    def remember_cache(self, device: Any, channel: C) -> None:
        with self._lock:
            channels = self._caches.setdefault(device, [])
            if channel not in channels:
                channels.append(channel)

    def caches(self, devices: tuple[Any, ...]) -> list[C]:
        """The cache channels of ``devices`` (of every object if none)."""
        with self._lock:
            objects = devices or tuple(self._caches.keys())
            return [c for device in objects for c in self._caches.get(device, [])]
