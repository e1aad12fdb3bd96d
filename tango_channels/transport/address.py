"""Where the Redis server is: from a URL, a ``redis.Redis`` client, Beacon, or the environment.

BLISS processes find their Redis by asking Beacon. We do the same, so that pointing
``BEACON_HOST`` at the beamline's Beacon is all a user has to do. The resolution order for
``resolve(None)`` is:

1. ``BEACON_HOST`` (``host:port``): ask that Beacon server for its Redis address. The request
   is the 8 bytes of a ``REDIS_QUERY`` frame (type 30, empty payload); the answer is a frame
   ``<int32 type=31><int32 length><"host:port" or "host:/path/to/socket">``, little-endian.
2. ``REDIS_URL`` (``redis://host:port/db`` or ``unix:///path/to/socket``).
3. ``redis://localhost:6379/0``.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["BeaconError", "RedisAddress", "ask_beacon", "parse_host_port", "resolve"]

DEFAULT_URL = "redis://localhost:6379/0"

_REDIS_QUERY = 30
_REDIS_QUERY_ANSWER = 31
_FRAME = struct.Struct("<ii")


class BeaconError(ConnectionError):
    """Beacon could not be reached or did not say where Redis is."""


@dataclass(frozen=True)
class RedisAddress:
    """How to reach one Redis server (TCP or unix socket), with optional credentials."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisAddress:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        db = int(query.get("db", ["0"])[0])
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        if parts.scheme == "unix":
            return cls(path=unquote(parts.path), db=db, username=username, password=password)
        if parts.scheme != "redis":
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r} in {url!r}")
        path_db = parts.path.strip("/")
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or 6379,
            db=int(path_db) if path_db else db,
            username=username,
            password=password,
        )

    @classmethod
    def from_client(cls, client: Any) -> RedisAddress:
        """The address a ``redis.Redis`` client connects to (read from its pool settings)."""
        kwargs = client.connection_pool.connection_kwargs
        if kwargs.get("path"):
            return cls(
                path=kwargs["path"],
                db=kwargs.get("db", 0),
                username=kwargs.get("username"),
                password=kwargs.get("password"),
            )
        return cls(
            host=kwargs.get("host", "localhost"),
            port=int(kwargs.get("port", 6379)),
            db=kwargs.get("db", 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
        )

    @property
    def url(self) -> str:
        """The address as a URL, without the password (for logs and Status)."""
        user = f"{self.username}@" if self.username else ""
        if self.path:
            return f"unix://{user}{self.path}" + (f"?db={self.db}" if self.db else "")
        return f"redis://{user}{self.host}:{self.port}/{self.db}"

    def __str__(self) -> str:
        return self.url


def parse_host_port(text: str) -> tuple[str, int]:
    """``host:port`` (a Beacon address) as its two parts; ValueError saying why not."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)


def ask_beacon(beacon_host: str, timeout: float = 3.0) -> RedisAddress:
    """Ask the Beacon server at ``host:port`` where its Redis server is."""
    host, port = parse_host_port(beacon_host)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_FRAME.pack(_REDIS_QUERY, 0))
            header = _recv_exactly(sock, _FRAME.size)
            kind, length = _FRAME.unpack(header)
            if kind != _REDIS_QUERY_ANSWER or not 0 < length < 4096:
                raise BeaconError(
                    f"Beacon at {beacon_host} answered an unexpected frame "
                    f"(type {kind}, length {length})"
                )
            answer = _recv_exactly(sock, length).decode()
    except OSError as exc:
        raise BeaconError(f"Beacon at {beacon_host} unreachable: {exc}") from exc
    redis_host, _, where = answer.rpartition(":")
    if where.isdigit():
        return RedisAddress(host=redis_host, port=int(where))
    if where.startswith("/"):
        return RedisAddress(path=where)
    raise BeaconError(f"Beacon at {beacon_host} gave an unreadable Redis address {answer!r}")


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise BeaconError("Beacon closed the connection before answering")
        data += chunk
    return data


def resolve(redis: Any = None, *, beacon_host: str | None = None) -> RedisAddress:
    """The Redis address for ``redis`` (a URL, a ``redis.Redis`` client, a
    :class:`RedisAddress` or ``None``), falling back on Beacon and the environment."""
    if isinstance(redis, RedisAddress):
        return redis
    if isinstance(redis, str):
        return RedisAddress.from_url(redis)
    if redis is not None:
        return RedisAddress.from_client(redis)
    beacon_host = beacon_host or os.environ.get("BEACON_HOST")
    if beacon_host:
        return ask_beacon(beacon_host)
    return RedisAddress.from_url(os.environ.get("REDIS_URL") or DEFAULT_URL)
