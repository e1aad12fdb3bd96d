"""Threads or greenlets: the few primitives the bus needs, chosen once per bus.

The library runs in two kinds of process:

- plain threaded processes, such as the BeaconChannels device server (PyTango's default
  synchronous mode): the bus reader is a daemon thread, waits use :mod:`threading`;
- gevent-patched processes, such as BLISS sessions and scripts (BLISS calls
  ``gevent.monkey.patch_all(thread=False)``): the reader is a greenlet of the hub of the thread
  that created the bus, waits use :mod:`gevent.event`, so that waiting for a channel value
  lets the reader greenlet run. A bus must then be used from that thread only.

Which kind is decided when a :class:`~tango_channels.bus.Bus` is created, by whether gevent
has patched :mod:`socket`. Nothing here imports gevent unless the process already has.

Locks that are held across socket I/O come from :meth:`Runtime.io_lock` (a gevent lock in a
gevent process: a thread lock would block the whole hub while its holder waits for Redis).
Locks around pure in-memory updates are plain :class:`threading.Lock`: no greenlet switch can
happen inside them, so they are safe in both kinds of process.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Runtime", "current_runtime"]


class Event(Protocol):
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float) -> bool: ...


class Task(Protocol):
    def join(self, timeout: float | None = None) -> Any: ...


class Runtime:
    """Threads: the default."""

    name = "threads"

    def spawn(self, target: Callable[[], None], name: str) -> Task:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def event(self) -> Event:
        return threading.Event()

    def io_lock(self) -> Any:
        return threading.RLock()

    def current(self) -> int:
        return threading.get_ident()


class _GeventRuntime(Runtime):
    name = "gevent"

    def __init__(self) -> None:
        import gevent
        import gevent.event
        import gevent.lock

        self._gevent = gevent

    def spawn(self, target: Callable[[], None], name: str) -> Task:
        greenlet = self._gevent.spawn(target)
        greenlet.name = name
        return greenlet

    def event(self) -> Event:
        return self._gevent.event.Event()

    def io_lock(self) -> Any:
        return self._gevent.lock.RLock()

    def current(self) -> int:
        return id(self._gevent.getcurrent())


def current_runtime() -> Runtime:
    """Greenlets if gevent has patched ``socket`` in this process, threads otherwise."""
    gevent = sys.modules.get("gevent")
    if gevent is not None:
        from gevent import monkey

        if monkey.is_module_patched("socket"):
            return _GeventRuntime()
    return Runtime()
