"""A real Beacon server of BLISS 2.4, its Redis servers, and real BLISS processes using it.

What a beamline runs, started by a test on free ports and stopped with everything it started::

    with Beacon(tmp_path, bliss_full_venv()) as beacon:    # beacon-server + 2 redis-server
        owner = beacon.session("owner")                      # bliss_session.py, BEACON_HOST set
        owner.call("axis", name="roby")                      # roby: a mockup motor (ROBY_YAML)
        beacon.write_config("roby_t.yml", tango_attr_as_motor_yaml("roby_t", uri))
        client = beacon.session("client")                    # sees roby_t.yml at its start
        Channel("axis.roby.position", bus=Bus(beacon.redis_url))   # where channels are

The command line (:meth:`Beacon.command`), option by option, read in
``bliss/beacon/app/beacon_server.py`` of the bliss 2.4.0 wheel:

``beacon-server --db-path <config dir> --port <free> --redis-address redis://127.0.0.1:<free>
--redis-data-address redis://127.0.0.1:<free> --homepage-port 0 --log-server-port 0
--log-level INFO``, with ``PATH`` starting with the venv's ``bin`` and ``TMPDIR`` a private
directory.

- ``--redis-address`` / ``--redis-data-address``: Redis servers we start ourselves (Debian's
  ``redis-server`` 7.0, no modules). Without them Beacon starts its own two with
  ``--loadmodule /usr/lib/librejson.so`` and ``/usr/lib/redisearch.so`` (``$CONDA_PREFIX/lib``
  under conda) and refuses to start when those files are missing ("Redis server plugin not
  found"). The URL must be ``redis://host:port`` exactly (Beacon splits it on ``:``; a
  ``/0`` suffix breaks it). ``--redis-port`` and ``--redis-data-port`` only apply to the
  Redis servers Beacon starts, so are not used.
- ``--port``: Beacon's TCP port (default 25000, or ``BEACON_PORT``). Beacon also listens on a
  unix socket ``$TMPDIR/beacon_<random>.sock`` that local BLISS clients switch to; ``TMPDIR``
  keeps it in our directory.
- ``--homepage-port 0``: its help says 0 disables the web server; BLISS 2.4.0 binds it anyway,
  on port 0, so on a port the kernel picks (on all interfaces): never a fixed port.
- ``--log-server-port 0``: no log server (it would also need ``/var/log/bliss``); BLISS
  processes asking for it are told there is none.
- ``--tango-port`` left at 0: no Tango database (that would be ``NosqlTangoDB``, not
  installed). ``--posix_queue`` does not exist in 2.4.
- ``memory_tracker`` (blissdata's console script) is always started, by name: hence ``PATH``.

**Without RedisJSON** (our plain data Redis): Beacon logs a warning ``Cannot initialize the
Redis database: RuntimeError("Redis server is missing 'ReJSON' module for blissdata to
function")`` and goes on (it only refuses for a Redis it started itself); ``memory_tracker``
exits at once (``No blissdata protocol version found on redis://...``), logged by Beacon as an
error. Scans (blissdata's DataStore) would fail; config, settings, channels and motors don't
use the data Redis at all.

**Which Redis is which.** Beacon answers ``REDIS_QUERY`` (message 30) with the settings Redis
(``--redis-address``) and ``REDIS_DATA_SERVER_QUERY`` (32) with the data one. BLISS's
``get_redis_proxy()`` (db 0, the settings one) carries every channel
(``bliss/config/channels.py``) and every setting, so the ``axis.roby.*`` channels and the
``axis.roby`` hash are there: :attr:`Beacon.redis_url` is the URL a bridge must use. A BLISS
client asks Beacon for both addresses before its first Redis connection, so the data Redis
must exist even though motors never use it.

Beacon reads the config files from disk at every request: a file written with
:meth:`Beacon.write_config` is seen by every BLISS process that loads the config afterwards;
one that already did needs ``config.reload()`` (the session's ``reload`` command).

The venv (:func:`bliss_full_venv`): ``bliss==2.4.0`` with all its dependencies is 127
packages (PyQt5, scipy, matplotlib, pandas, silx, hdf5plugin...); instead BLISS and the
blissdata packages without their dependencies, then the modules that beacon-server, config
loading, the ``mockup`` and ``tango_attr_as_motor`` controllers import (found by running
them), with BLISS 2.4's bounds: 386 MB, built in about 25 s (pip's cache cold or warm, on
this machine). ``blissdata_lima2`` and ``blissdata_mosca`` are imported by
``bliss.scanning.scan_events``, which every motor controller imports; ``redis==5.0.0`` is what
pip resolves for ``bliss==2.4.0`` (BLISS allows ``>=4,<5.0.1``); pytango 10.3.1 is within
BLISS's ``<11``. ``pip check`` in that venv lists BLISS's other requirements as missing: that is
the point.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.json_lines import JsonLineProcess
from support.redis_server import RedisServer, free_port
from support.venvs import cached_venv

__all__ = [
    "ROBY_YAML",
    "Beacon",
    "BlissSession",
    "SessionError",
    "bliss_full_venv",
    "tango_attr_as_motor_yaml",
]

SESSION_SCRIPT = Path(__file__).with_name("bliss_session.py")
BLISS_VERSION = "2.4.0"
PYTANGO_VERSION = "10.3.1"
# Installed without their dependencies (theirs are heavy, and mostly for scans and detectors).
BLISS_FULL_NO_DEPS = [
    f"bliss=={BLISS_VERSION}",
    "blissdata==2.4.5",
    "blissdata-lima2==2.0.2",
    "blissdata-mosca==2.0.5",
    "lima2-client==4.3.2",
    "mosca-client==2.0.5",
    "redis-om==1.1.0",
    # blissdata's h5api imports silx.io, which imports fabio; fabio's own dependencies
    # (hdf5plugin: 186 MB, lxml, pillow) are not needed for that
    "silx==2.2.2",
    "fabio==2026.6.0",
]
# Then what those import, with their own dependencies, in BLISS 2.4's bounds.
BLISS_FULL_DEPS = [
    f"pytango=={PYTANGO_VERSION}",
    "redis==5.0.0",
    "hiredis<3.5",
    "gevent<25",
    "greenlet<3.4",
    "numpy<2",
    "h5py<3.17",
    "pydantic>=2.9,<3",
    "pydantic-extra-types",
    "python-ulid",
    "more-itertools",
    "flask<3.2",
    "requests<2.35",
    "tabulate<0.11",
    "typing_extensions",
    "beartype<0.23",
    "louie<2.1",
    "packaging",
    "prompt_toolkit<3.1",
    "networkx<3.7",
    "ruamel.yaml<0.20",
    "psutil<7.3",
    "msgpack<1.3",
    "msgpack_numpy<0.5",
    "tblib<3.3",
    "treelib<=1.5.5",
    "cerberus<1.4",
]
# Every module the harness runs, imported once when the venv is built: a missing one is a
# build failure with its name, not a session dying later.
BLISS_FULL_IMPORTS = (
    "import bliss.beacon.app.beacon_server, blissdata.redis_engine.memory_tracker, "
    "bliss.config.static, bliss.config.plugins.generic, bliss.scanning.scan_events, "
    "bliss.controllers.motors.mockup, bliss.controllers.motors.tango_attr_as_motor, tango"
)

ROBY_YAML = """\
# roby: BLISS's simulated motor (bliss/controllers/motors/mockup.py), with settings such that
# a move of 3 units takes about 1.75 s: 0.25 s of acceleration to 2 units/s, then cruising.
- plugin: emotion
  class: mockup
  axes:
    - name: roby
      velocity: 2.0
      acceleration: 8.0
      steps_per_unit: 100
      low_limit: -50
      high_limit: 50
"""


def tango_attr_as_motor_yaml(name: str, uri: str, **options: str) -> str:
    """A BLISS axis ``name`` following the Tango device at ``uri``
    (``bliss/controllers/motors/tango_attr_as_motor.py``); ``options``: its other keys
    (``pos_attr``, ``state_attr``, ``stop_cmd``, ``velocity_attr``...), none by default."""
    axis = {"name": name, "uri": uri, **options}
    lines = [f"      {key}: {json.dumps(value)}" for key, value in axis.items()]
    lines[0] = "    - " + lines[0].lstrip()
    return "- plugin: emotion\n  class: tango_attr_as_motor\n  axes:\n" + "\n".join(lines) + "\n"


def bliss_full_venv() -> Path:
    """The python of a venv with real BLISS 2.4 able to run beacon-server and BLISS sessions
    with ``mockup`` and ``tango_attr_as_motor`` motors (see the module docstring), built on
    first use (about 25 s here; 386 MB) and then cached (:func:`support.venvs.cached_venv`)."""
    return cached_venv(
        f"bliss-full-{BLISS_VERSION}",
        [["--no-deps", *BLISS_FULL_NO_DEPS], BLISS_FULL_DEPS],
        BLISS_FULL_IMPORTS,
    )


def _frame(kind: int, payload: bytes = b"") -> bytes:
    """A Beacon message (``bliss/beacon/protocol.py``): little-endian type and length."""
    return struct.pack("<ii", kind, len(payload)) + payload


def _ask(port: int, request: bytes, answer_kind: int, timeout: float = 1.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        buffer = b""
        while True:  # Beacon may send other messages first: skip them
            while len(buffer) < 8:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("Beacon closed the connection")
                buffer += chunk
            kind, length = struct.unpack("<ii", buffer[:8])
            while len(buffer) < 8 + length:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("Beacon closed the connection")
                buffer += chunk
            payload, buffer = buffer[8 : 8 + length], buffer[8 + length :]
            if kind == answer_kind:
                return payload.decode()


class Beacon:
    """``beacon-server`` of the full BLISS venv, with its settings and data Redis servers.

    ``workdir`` holds the config tree (:attr:`config_dir`, with :data:`ROBY_YAML` as
    ``motors.yml`` unless ``roby=False``), the logs and the Redis servers' directories.
    :meth:`start` returns once Beacon answers where its Redis servers are; :meth:`stop` (also
    on leaving the ``with`` block, and when :meth:`start` fails) ends every process started
    here, sessions first.
    """

    def __init__(self, workdir: Path, python: Path | str, roby: bool = True) -> None:
        self.workdir = Path(workdir)
        self.python = Path(python)
        self.config_dir = self.workdir / "beacon-db"
        self.port = free_port()
        self.settings_redis = RedisServer(self.workdir / "redis-settings")
        self.data_redis = RedisServer(self.workdir / "redis-data")
        self.log_path = self.workdir / "beacon.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.sessions: list[BlissSession] = []
        self._tmpdir: str | None = None
        self.config_dir.mkdir(parents=True, exist_ok=True)
        if roby:
            self.write_config("motors.yml", ROBY_YAML)

    @property
    def host(self) -> str:
        """``BEACON_HOST`` for clients of this Beacon."""
        return f"127.0.0.1:{self.port}"

    @property
    def redis_url(self) -> str:
        """The settings Redis: BLISS's channels and settings (the one a bridge uses)."""
        return self.settings_redis.url

    @property
    def data_redis_url(self) -> str:
        """The data Redis (blissdata's scans; without RedisJSON here)."""
        return self.data_redis.url

    def command(self) -> list[str]:
        """The command line (the module docstring says why each option)."""
        bindir = self.python.parent
        return [
            str(bindir / "beacon-server"),
            "--db-path",
            str(self.config_dir),
            "--port",
            str(self.port),
            "--redis-address",
            f"redis://127.0.0.1:{self.settings_redis.port}",
            "--redis-data-address",
            f"redis://127.0.0.1:{self.data_redis.port}",
            "--homepage-port",
            "0",
            "--log-server-port",
            "0",
            "--log-level",
            "INFO",
        ]

    def write_config(self, relative: str, text: str) -> Path:
        """Add or replace a file of the config tree (atomically: Beacon never serves half a
        file). BLISS processes loading the config from now on see it (see :meth:`session`)."""
        path = self.config_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")  # Beacon serves no dot file
        partial.write_text(text)
        os.replace(partial, path)
        return path

    def remove_config(self, relative: str) -> None:
        (self.config_dir / relative).unlink(missing_ok=True)

    def start(self, timeout: float = 60) -> Beacon:
        try:
            self.settings_redis.start()
            self.data_redis.start()
            # Beacon's unix socket goes there: a short path (a socket's is at most 107 bytes)
            self._tmpdir = tempfile.mkdtemp(prefix="bliss-beacon-")
            env = {
                **os.environ,
                "PATH": f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "TMPDIR": self._tmpdir,
            }
            env.pop("BEACON_HOST", None)
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(
                    self.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=self.workdir,
                    start_new_session=True,  # its memory_tracker in its process group
                )
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"beacon-server exited with {self.process.returncode}: {self.log()[-3000:]}"
                )
            try:
                answer = self.redis_address()
            except OSError:
                answer = None
            if answer is not None:
                if answer != f"127.0.0.1:{self.settings_redis.port}":
                    raise RuntimeError(f"Beacon hands out Redis {answer!r}, not ours")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"beacon-server did not answer within {timeout} s: {self.log()[-3000:]}"
                )
            time.sleep(0.1)

    def redis_address(self) -> str:
        """What Beacon answers a ``REDIS_QUERY`` (30): ``host:port`` of the settings Redis."""
        return _ask(self.port, _frame(30), 31)

    def redis_data_address(self) -> str:
        """What Beacon answers a ``REDIS_DATA_SERVER_QUERY`` (32): ``host:port`` of the data
        Redis (the answer is ``<key>|<host>|<port>``)."""
        _, host, port = _ask(self.port, _frame(32, b"1|"), 34).split("|")
        return f"{host}:{port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def session(self, label: str, timeout: float = 60) -> BlissSession:
        """A new BLISS process on this Beacon (``bliss_session.py``), stopped by :meth:`stop`.
        It loads the config tree as it is now, at its first command."""
        session = BlissSession(self.python, self.host, label, self.workdir, timeout=timeout)
        self.sessions.append(session)
        return session

    def stop(self) -> None:
        """Sessions, then Beacon (SIGTERM: it stops its memory_tracker; SIGKILL to its process
        group after 10 s), then the Redis servers. Safe to call twice, and after a failed
        start."""
        while self.sessions:
            self.sessions.pop().close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
            self.process = None
        self.settings_redis.kill()
        self.data_redis.kill()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Beacon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SessionError(AssertionError):
    pass


class BlissSession(JsonLineProcess):
    """A running ``bliss_session.py`` (same protocol as ``peer.py``:
    :mod:`support.json_lines`): :meth:`call` sends a command and returns its answer; signals
    of watched objects arrive in :attr:`events`; BLISS's log is kept in ``session-<label>.log``
    of ``workdir``. :meth:`close` sends ``exit`` (the session leaves with ``os._exit``), else
    SIGKILL: a BLISS process stuck in PyTango's or gevent's shutdown ignores SIGTERM."""

    error = SessionError

    def __init__(
        self, python: Path, beacon_host: str, label: str, workdir: Path, timeout: float = 60
    ) -> None:
        super().__init__(
            [str(python), str(SESSION_SCRIPT)],
            f"BLISS session {label}",
            {**os.environ, "BEACON_HOST": beacon_host},
            workdir,
            log_path=Path(workdir) / f"session-{label}.log",
            timeout=timeout,
        )

    def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The first event matching ``predicate``, and the events before it (dropped from
        :attr:`events`)."""
        return self.events_until(predicate, timeout)
