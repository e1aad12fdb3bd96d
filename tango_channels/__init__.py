"""tango_channels: take part in BLISS channels without importing BLISS.

BLISS processes share live state through *channels*: Redis pub/sub messages carrying pickled
values, held only in the memory of the processes that use them. This package speaks that
protocol byte for byte, with BLISS's own API::

    from tango_channels import Channel, Cache, clear_cache, EventChannel

    c = Channel("test", default_value=42)   # process A
    c.value                                  # 42
    c = Channel("test"); c.value             # process B: 42, answered by A
    c.register_callback(fn)                  # A: fn("something new") once B sets it
    c.value = "something new"                # B

It never imports BLISS and never runs code from the wire (see :mod:`tango_channels.wire.decode`);
classes it does not know arrive as :class:`Opaque` values and are re-sent unchanged. The
concurrency model (one reader per Redis connection, threads or gevent) is described in
:mod:`tango_channels.bus`. Importing this package has no side effect: no connection, no thread,
no monkey-patching until a channel or bus is created.
"""

__version__ = "0.2.0"  # the project's version: pyproject.toml reads it from here

from .bus import Bus, BusStats, ConnectionState
from .channel import DEFAULT_TIMEOUT, Cache, Channel, EventChannel, bus_for, clear_cache
from .transport.address import RedisAddress
from .wire.decode import DecodeError, Limits, decode
from .wire.encode import EncodeError, encode_query, encode_reply, encode_value
from .wire.messages import Query, Reply, ValueMessage
from .wire.opaque import Opaque

__all__ = [
    "DEFAULT_TIMEOUT",
    "Bus",
    "BusStats",
    "Cache",
    "Channel",
    "ConnectionState",
    "DecodeError",
    "EncodeError",
    "EventChannel",
    "Limits",
    "Opaque",
    "Query",
    "RedisAddress",
    "Reply",
    "ValueMessage",
    "bus_for",
    "clear_cache",
    "decode",
    "encode_query",
    "encode_reply",
    "encode_value",
]
