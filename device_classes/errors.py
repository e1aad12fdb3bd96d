"""Library errors as Tango errors: the one translation, for every command, read and write.

A client gets a DevFailed whose reason names the kind of problem and whose description says
what could not be done and why, in words a person can act on::

    with tango_errors("ClearCache not done", "BeaconChannels.ClearCache"):
        commands.clear_cache(bus, publisher, names)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn

import tango

from .bridge.kinds import Mismatch
from .bridge.lines import LineError
from .bridge.publisher import Unanswered

__all__ = ["dev_failed", "raise_failed", "tango_errors"]


def dev_failed(reason: str, description: str, origin: str) -> tango.DevFailed:
    """A DevFailed to raise or push (an error event)."""
    try:
        tango.Except.throw_exception(reason, description, origin)
    except tango.DevFailed as exc:
        return exc
    raise AssertionError("unreachable")


def raise_failed(reason: str, description: str, origin: str) -> NoReturn:
    """Raise a new DevFailed (a new one each time: raising a cached one again would lengthen
    its traceback at every read, for as long as a client polls it)."""
    raise dev_failed(reason, description, origin)


@contextlib.contextmanager
def tango_errors(doing: str, origin: str) -> Iterator[None]:
    """Raise the library's errors inside as DevFailed: ``doing`` says what failed
    (``"ClearCache not done"``), the library's message why."""
    try:
        yield
    except LineError as exc:
        raise_failed("BeaconChannels_BadLine", str(exc), origin)
    except Mismatch as exc:
        raise_failed("BeaconChannels_WrongValue", f"{doing}: {exc}", origin)
    except KeyError as exc:
        raise_failed("BeaconChannels_NoChannel", str(exc.args[0]), origin)
    except PermissionError as exc:
        raise_failed("BeaconChannels_ReadOnly", f"{doing}: {exc}", origin)
    except Unanswered as exc:
        raise_failed("BeaconChannels_Busy", f"{doing}: {exc}", origin)
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise_failed("BeaconChannels_RedisUnreachable", f"{doing}: {exc}", origin)
