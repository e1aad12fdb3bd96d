"""Python logging into Tango's logging system, as LogViewer and Astor expect.

The library and the device log with :mod:`logging` (stderr, the journal). :class:`TangoLog`
passes the same records to a device's Tango logger too: its targets (the console with
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
    """Records to ``device``'s Tango streams (``debug_stream``... ``fatal_stream``)."""

    def __init__(self, device: Any) -> None:
        super().__init__(logging.DEBUG)
        self._streams = (
            (logging.CRITICAL, device.fatal_stream),
            (logging.ERROR, device.error_stream),
            (logging.WARNING, device.warn_stream),
            (logging.INFO, device.info_stream),
            (logging.DEBUG, device.debug_stream),
        )
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            for level, stream in self._streams:
                if record.levelno >= level:
                    stream(text)
                    return
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
