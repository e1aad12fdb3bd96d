"""Python logging into Tango's logging system, as LogViewer and Astor expect.

The library and the devices log with :mod:`logging` (stderr, the journal). :class:`TangoLog`
passes the same records to the devices' Tango loggers too (a record about one device to that
device's alone): its targets (the console with
``-v``, a file added with the admin device's ``AddLoggingTarget`` or the ``logging_target``
property, a LogConsumer device) receive them at the level Tango's ``logging_level`` (or
``-vN``) allows. Python's own levels are opened up to DEBUG for the records to reach Tango;
Python's stderr handler keeps its own level, and steps aside when ``-v`` already makes Tango
print to the console.
"""

from __future__ import annotations

import logging
from typing import Any

import tango

__all__ = ["LOGGERS", "TangoLog"]

#: The loggers whose records reach Tango: the device's and the library's.
LOGGERS = ("BeaconChannels", "tango_channels")


class TangoLog(logging.Handler):
    """Records to the Tango streams (``debug_stream``... ``fatal_stream``) of the server's
    devices: a record about one device (``extra={"device": <name>}``) to that device's, any
    other (the library's: a bus is every device's of its Redis) to every device's. One
    handler for the server, however many devices it runs: a record is formatted once."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._devices: dict[str, tuple[tuple[int, Any], ...]] = {}  # name -> its streams
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def add(self, device: Any) -> None:
        """``device``'s Tango streams receive records from now on."""
        self._devices[device.get_name()] = (
            (logging.CRITICAL, device.fatal_stream),
            (logging.ERROR, device.error_stream),
            (logging.WARNING, device.warn_stream),
            (logging.INFO, device.info_stream),
            (logging.DEBUG, device.debug_stream),
        )

    def remove(self, device: Any) -> None:
        """``device`` goes (the server ends): its streams die with it."""
        self._devices.pop(device.get_name(), None)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            named = getattr(record, "device", None)
            devices = self._devices
            targets = [devices[named]] if named in devices else list(devices.values())
            if not targets:
                return
            text = self.format(record)
            for streams in targets:
                for level, stream in streams:
                    if record.levelno >= level:
                        stream(text)
                        break
        except Exception:  # noqa: BLE001 - as logging's own handlers: never break the device
            self.handleError(record)

    def attach(self) -> None:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(logging.DEBUG)
            logger.addHandler(self)


def console_logging_by_tango() -> bool:
    """Whether ``-v`` made Tango print its log to the console (then Python's stderr handler
    would print every line a second time)."""
    try:
        return int(tango.Util.instance().get_trace_level()) > 0
    except (tango.DevFailed, AttributeError):
        return False
