"""A private redis-server for the quick start (nothing persisted, loopback only)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

from tango_channels_deploy.ports import free_port


def redis_server_command(
    executable: str, port: int, workdir: str, unix_socket: str | None = None
) -> list[str]:
    """``redis-server`` on 127.0.0.1:``port`` keeping nothing on disk (and a unix socket)."""
    command = [
        executable,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        workdir,
    ]
    return command + (["--unixsocket", unix_socket] if unix_socket else [])


class LocalRedis:
    """``redis-server`` on a free loopback port, in a temporary directory, until stopped."""

    def __init__(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        self.port = free_port()
        self._executable = executable
        self._dir = tempfile.TemporaryDirectory(prefix="tango-channels-redis-")
        self.start()

    def start(self) -> None:
        """Start the server (again, after :meth:`kill`: same port, same directory)."""
        self.process = subprocess.Popen(
            redis_server_command(self._executable, self.port, self._dir.name),
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """Kill the server, as a crash would (start() brings it back on the same port)."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._dir.cleanup()
