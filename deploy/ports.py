"""A free TCP port on the loopback interface, for the servers the quick start, the tests and
the benchmarks start (Redis, Tango databases, device servers)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice; another process may take it before
    the caller binds it, which the callers' start-up checks catch)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
