"""A real ``redis-server`` on a free port, that tests can kill, restart and pause."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tango_channels_deploy.local_redis import redis_server_command
from tango_channels_deploy.ports import free_port

__all__ = ["RedisServer", "free_port", "wait_held", "wait_subscribers"]


@functools.cache
def _debug_command(executable: str) -> tuple[str, ...]:
    """Options letting loopback clients (the tests) use DEBUG (``DEBUG SLEEP``: a slow
    server). Redis 7 refuses DEBUG by default; older servers allow it and lack the option."""
    version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    major = re.search(r"v=(\d+)\.", version)
    return ("--enable-debug-command", "local") if major and int(major[1]) >= 7 else ()


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process, nothing persisted, on 127.0.0.1:``port``."""

    def __init__(self, workdir: Path, port: int | None = None, unix_socket: bool = False) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(
                "redis-server is not installed: run the README's test command, or "
                "apt-get install redis-server"
            )
        self.executable = executable
        self.workdir = workdir
        self.port = port or free_port()
        self.socket_path = workdir / f"redis-{self.port}.sock" if unix_socket else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"redis-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                *redis_server_command(
                    self.executable,
                    self.port,
                    str(self.workdir),
                    str(self.socket_path) if self.socket_path else None,
                ),
                *_debug_command(self.executable),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """Kill the server (SIGKILL): clients see their connections drop."""
        if self.process is not None:
            self.resume()
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing answers (a half-dead server)."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)

    def user_url(self, name: str, password: str = "secret") -> str:
        """The URL of a new Redis user ``name`` allowed everything (to cut off alone)."""
        self.command("ACL", "SETUSER", name, "on", f">{password}", "~*", "&*", "+@all")
        return f"redis://{name}:{password}@127.0.0.1:{self.port}/0"

    @contextlib.contextmanager
    def locked_out(self, name: str) -> Iterator[None]:
        """User ``name`` cut off inside the block (its connections killed, new ones refused),
        while every other client stays connected."""
        self.command("ACL", "SETUSER", name, "off")
        self.command("CLIENT", "KILL", "USER", name)
        try:
            yield
        finally:
            self.command("ACL", "SETUSER", name, "on")

    def command(self, *args: str) -> bytes:
        """Run one command through redis-cli (for checks like CLIENT LIST)."""
        return subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], check=True, capture_output=True
        ).stdout


def wait_held(server: RedisServer, *names: str, count: int = 1) -> None:
    """Wait until each of ``names`` has at least ``count`` subscribers (its holders) on
    ``server``."""
    for name in names:
        wait_subscribers(server.url, name, count)


def wait_subscribers(url: str, name: str, count: int = 1, timeout: float = 10) -> None:
    """Wait until ``name`` has at least ``count`` subscribers on the server at ``url``."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            ((_, subscribers),) = client.pubsub_numsub(name)
            if subscribers >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} has {subscribers} subscribers, expected {count}")
            time.sleep(0.01)
    finally:
        client.close()
