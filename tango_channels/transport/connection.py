"""The transport interface the bus drives: one connection to a Redis server.

:class:`~tango_channels.transport.resp.RespConnection` implements it. The bus takes any
:data:`ConnectionFactory`, so that what it needs of a connection is written down here and
nowhere else:

- :meth:`Connection.connect` opens (and authenticates) it, :meth:`Connection.close` closes it;
  nothing ever reconnects behind the bus's back: a lost connection is an error the bus sees,
  and the bus alone decides when to connect again (with backoff) and what to resubscribe;
- :meth:`Connection.send` writes commands without reading anything (the subscriber connection:
  its replies arrive among the messages, and are read by the reader alone);
- :meth:`Connection.read` returns what has arrived, waiting at most ``timeout``: the reader's
  health check is the bus's own ``PING``, judged by whether *anything* arrives;
- :meth:`Connection.call_many` is a pipelined round trip (the writer connection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Connection", "ConnectionFactory"]


class Connection(Protocol):
    @property
    def connected(self) -> bool: ...

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def send(self, *commands: tuple[Any, ...]) -> None: ...

    def read(self, timeout: float | None) -> list[Any]: ...

    def call_many(self, *commands: tuple[Any, ...]) -> list[Any]: ...


#: ``factory(address, timeout=..., client_name=...)`` -> a new, unconnected :class:`Connection`.
ConnectionFactory = Callable[..., Connection]
