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
import fcntl
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.redis_server import RedisServer, free_port

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
    first use (about 25 s here; 386 MB) and then cached.

    The directory name holds a digest of the requirement lists, so that changing them builds
    a new venv instead of trusting an old one; ``.complete`` is written last, so that a
    build that failed half-way is rebuilt. A lock lets two test runs share the build.
    """
    key = hashlib.sha256(
        "\n".join([*BLISS_FULL_NO_DEPS, "--", *BLISS_FULL_DEPS]).encode()
    ).hexdigest()[:10]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tango-channels"
    venv = root / f"bliss-full-{BLISS_VERSION}-{key}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if done.exists():
        return python
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait for it
        if done.exists():
            return python
        base = getattr(sys, "_base_executable", sys.executable)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        steps = [
            [base, "-m", "venv", "--clear", str(venv)],
            [*pip, "--no-deps", *BLISS_FULL_NO_DEPS],
            [*pip, *BLISS_FULL_DEPS],
            [str(python), "-c", BLISS_FULL_IMPORTS],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=1200)
            if result.returncode != 0:
                raise RuntimeError(
                    f"building the full BLISS venv failed at {' '.join(step[:6])}: "
                    f"{(result.stderr or result.stdout)[-1500:]}"
                )
        done.write_text(f"{BLISS_VERSION} {key}\n")
    return python


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


class BlissSession:
    """A running ``bliss_session.py`` (same protocol as ``peer.py``): :meth:`call` sends a
    command and returns its answer; signals of watched objects arrive in :attr:`events`.

    Two reader threads own the pipes: one puts answers in the queue of their id and events
    in :attr:`events`, the other keeps stderr (BLISS's log) for error messages.
    """

    def __init__(
        self, python: Path, beacon_host: str, label: str, workdir: Path, timeout: float = 60
    ) -> None:
        self.label = label
        env = {**os.environ, "BEACON_HOST": beacon_host}
        self.stderr_path = Path(workdir) / f"session-{label}.log"
        self.process = subprocess.Popen(
            [str(python), str(SESSION_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=workdir,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._answers_lock = threading.Lock()
        self._ready: queue.Queue[dict[str, Any]] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True, name=f"{label} stdout").start()
        threading.Thread(target=self._read_stderr, daemon=True, name=f"{label} stderr").start()
        try:
            self._ready.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise SessionError(f"BLISS session {label} did not start: {self.stderr()}") from None

    def _queue(self, ident: int) -> queue.Queue[dict[str, Any]]:
        with self._answers_lock:
            return self._answers.setdefault(ident, queue.Queue())

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:  # something in BLISS printed on stdout: keep it with the log
                with open(self.stderr_path, "ab") as log:
                    log.write(line)
                continue
            if "ready" in message:
                self._ready.put(message)
            elif "event" in message:
                self.events.put(message)
            else:
                self._queue(message["id"]).put(message)
        self.process.stdout.close()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        with open(self.stderr_path, "ab") as log:
            for line in self.process.stderr:
                log.write(line)
                log.flush()
        self.process.stderr.close()

    def stderr(self, tail: int = 3000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def call(self, cmd: str, timeout: float = 30, check: bool = True, **args: Any) -> dict:
        """Send ``cmd`` and wait ``timeout`` seconds for its answer; with ``check``, an error
        answer raises :class:`SessionError` with BLISS's traceback."""
        self._next_id += 1
        ident = self._next_id
        answers = self._queue(ident)
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"id": ident, "cmd": cmd, **args}) + "\n").encode())
        self.process.stdin.flush()
        try:
            answer = answers.get(timeout=timeout)
        except queue.Empty:
            raise SessionError(
                f"BLISS session {self.label}: no answer to {cmd} {args} in {timeout} s; "
                f"log: {self.stderr()}"
            ) from None
        if check and not answer["ok"]:
            raise SessionError(
                f"BLISS session {self.label}: {cmd} {args} failed: {answer['error']}\n"
                f"{answer.get('traceback', '')}"
            )
        return answer

    def next_event(self, timeout: float = 10) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise SessionError(f"BLISS session {self.label}: no event within {timeout} s") from None

    def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The first event matching ``predicate``, and the events before it (dropped from
        :attr:`events`)."""
        deadline = time.monotonic() + timeout
        before: list[dict[str, Any]] = []
        while True:
            event = self.next_event(max(0.0, deadline - time.monotonic()))
            if predicate(event):
                return event, before
            before.append(event)

    def close(self) -> None:
        """``exit`` (the session leaves with ``os._exit``), else SIGKILL: a BLISS process stuck
        in PyTango's or gevent's shutdown ignores SIGTERM."""
        if self.process.poll() is None:
            with contextlib.suppress(SessionError, OSError, ValueError):
                self.call("exit", timeout=5)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
