"""A minimal Redis connection: a socket, RESP2 framing, and hiredis' parser.

The bus needs exact control over its two connections: who reads, when it waits, how long, and
what a dead peer looks like (the interface it drives is :mod:`.connection`). Why not redis-py's
``Connection`` (read in redis-py 8.1's ``redis/connection.py``):

- **hidden reconnects**: ``send_packed_command`` connects again by itself when the socket is
  gone (``if not self._sock: self.connect...``), and its ``Retry`` repeats commands; on the
  subscriber connection that silently loses every subscription, and a publish may go twice;
- **a health check that reads replies itself**: with ``health_check_interval`` set,
  ``check_health`` sends ``PING`` and calls ``read_response`` expecting ``PONG``, inside
  whatever command comes next; on a subscribed connection that read takes a channel message
  instead (redis-py's ``PubSub`` works around it with its own PING payload, and hides reads
  inside ``get_message`` calls that may or may not wait);
- its exceptions and its state after a timeout are redis-py's to decide; ours are the bus's.

So the bus drives this class, which does only what it is told:

- :meth:`send` writes one or more commands in a single ``sendall``;
- :meth:`read` returns the replies already complete, waiting at most ``timeout`` for the
  first one;
- :meth:`call` sends one command and waits for its reply.

Thread-safety: one thread (or greenlet) may read while another writes; two writers must be
serialised by the caller. Under gevent's monkey-patching the socket is cooperative.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import hiredis

from .address import RedisAddress

__all__ = ["RedisError", "RespConnection"]

_RECV_SIZE = 256 * 1024


class RedisError(Exception):
    """Redis answered a command with an error."""


class RespConnection:
    """One connection to a Redis server (see the module docstring)."""

    def __init__(
        self, address: RedisAddress, *, timeout: float = 2.0, client_name: str | None = None
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.client_name = client_name
        self._sock: socket.socket | None = None
        self._reader = hiredis.Reader()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the socket and authenticate; raises ``OSError``/``ConnectionError``."""
        self.close()
        address = self.address
        if address.path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection((address.host, address.port), timeout=self.timeout)
            # Replies and messages are small: never let Nagle hold one back.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock
        self._reader = hiredis.Reader()
        try:
            if address.password is not None:
                auth = (
                    (address.username, address.password)
                    if address.username
                    else (address.password,)
                )
                self.call("AUTH", *auth)
            if self.client_name:
                self.call("CLIENT", "SETNAME", self.client_name)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the socket; a read blocked in another thread returns with an error."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _socket(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            raise ConnectionError(f"not connected to Redis at {self.address}")
        return sock

    def send(self, *commands: tuple[Any, ...]) -> None:
        """Write ``commands`` (tuples of str/bytes/int) in one go."""
        data = b"".join(hiredis.pack_command(cmd) for cmd in commands)
        try:
            self._socket().sendall(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            raise ConnectionError(
                f"Redis at {self.address} closed the connection (writing: {exc})"
            ) from exc
        except OSError as exc:
            self.close()
            raise ConnectionError(f"writing to Redis at {self.address} failed: {exc}") from exc

    def read(self, timeout: float | None) -> list[Any]:
        """The replies complete so far, waiting up to ``timeout`` s for the first one.

        Returns ``[]`` when nothing arrived in time. Error replies come back as
        :class:`RedisError` instances (not raised), in their place in the list.
        """
        replies = self._drain()
        if replies:
            return replies
        sock = self._socket()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                sock.settimeout(remaining)
                data = sock.recv(_RECV_SIZE)
            except (TimeoutError, BlockingIOError):
                # BlockingIOError: a zero timeout makes the socket non-blocking.
                return []
            except ConnectionResetError as exc:
                # Redis closing a client with unread input sends a reset rather than an end of
                # stream (it cuts a subscriber over its output buffer limit either way): to a
                # person both mean the same, and both are said the same way.
                self.close()
                raise ConnectionError(
                    f"Redis at {self.address} closed the connection (reset: {exc})"
                ) from exc
            except OSError as exc:
                self.close()
                raise ConnectionError(
                    f"reading from Redis at {self.address} failed: {exc}"
                ) from exc
            if not data:
                self.close()
                raise ConnectionError(f"Redis at {self.address} closed the connection")
            self._reader.feed(data)
            replies = self._drain()
            if replies or (deadline is not None and time.monotonic() >= deadline):
                return replies

    def _drain(self) -> list[Any]:
        replies = []
        try:
            while (reply := self._reader.gets()) is not False:
                if isinstance(reply, hiredis.ReplyError):
                    reply = RedisError(str(reply))
                replies.append(reply)
        except hiredis.ProtocolError as exc:
            self.close()
            raise ConnectionError(f"Redis at {self.address} broke the protocol: {exc}") from exc
        return replies

    def call_many(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` pipelined and return their replies in order.

        Raises :class:`RedisError` for the first error reply, ``ConnectionError`` or
        ``TimeoutError`` (after :attr:`timeout` s without an answer; the connection is
        closed then, as its state is unknown).
        """
        self.send(*commands)
        replies: list[Any] = []
        deadline = time.monotonic() + self.timeout
        while len(replies) < len(commands):
            remaining = deadline - time.monotonic()
            got = self.read(remaining) if remaining > 0 else []
            if not got:
                self.close()
                raise TimeoutError(
                    f"Redis at {self.address} did not answer within {self.timeout} s"
                )
            replies.extend(got)
        for reply in replies:
            if isinstance(reply, RedisError):
                raise reply
        return replies

    def call(self, *command: Any) -> Any:
        """Send one command and return its reply (see :meth:`call_many`)."""
        return self.call_many(command)[0]
