"""Test-side control of peer processes (see ``peer.py``) and of the BLISS peer venv."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

PEER_SCRIPT = Path(__file__).with_name("peer.py")
REPO = Path(__file__).resolve().parents[2]

BLISS_VERSION = "2.4.0"
# A Tango 9 client: the last PyTango 9 (its wheels carry cppTango 9.5.0), with the numpy its
# extension was built against.
PYTANGO9_VERSION = "9.5.1"
PYTANGO9_DEPS = [f"pytango=={PYTANGO9_VERSION}", "numpy<2"]
BLISS_DEPS = [
    "redis==4.6.0",
    "gevent<25",
    "greenlet<3.4",
    "numpy<2",
    "tabulate",
    "typing_extensions",
    "beartype<0.23",
    "louie",
    "packaging",
    "prompt_toolkit",
    "networkx",
    "ruamel.yaml<0.20",
    "psutil",
    "msgpack",
    "msgpack_numpy",
    "tblib",
]


class PeerError(AssertionError):
    pass


class Peer:
    """A running ``peer.py``; :meth:`call` sends a command and returns its answer."""

    def __init__(
        self,
        python: str,
        redis_url: str,
        impl: str = "tango_channels",
        gevent: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        args = [python, str(PEER_SCRIPT), "--impl", impl, "--redis", redis_url]
        if gevent:
            args.append("--gevent")
        self.impl = impl
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._next_id = 0
        self._ready: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            self._ready.get(timeout=30)
        except queue.Empty:
            self.close()
            raise PeerError(f"{impl} peer did not start: {''.join(self._stderr)[-2000:]}") from None

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            message = json.loads(line)
            if "ready" in message:
                self._ready.put(message)
            elif "event" in message:
                self.events.put(message)
            else:
                self._answers.setdefault(message["id"], queue.Queue()).put(message)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def call(
        self, cmd: str, timeout: float = 20, check: bool = True, **args: Any
    ) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        answers = self._answers.setdefault(ident, queue.Queue())
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"id": ident, "cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        try:
            answer = answers.get(timeout=timeout)
        except queue.Empty:
            raise PeerError(
                f"{self.impl} peer: no answer to {cmd} {args} in {timeout} s; "
                f"stderr: {''.join(self._stderr)[-2000:]}"
            ) from None
        if check and not answer["ok"]:
            raise PeerError(
                f"{self.impl} peer: {cmd} {args} failed: {answer['error']}\n"
                f"{answer.get('traceback', '')}"
            )
        return answer

    def next_event(self, timeout: float = 10) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise PeerError(f"{self.impl} peer: no callback within {timeout} s") from None

    def wait_event(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """The first callback event matching ``predicate`` (earlier ones are dropped)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            event = self.next_event(max(0.0, deadline - time.monotonic()))
            if predicate(event):
                return event

    def stderr(self) -> str:
        return "".join(self._stderr)

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(PeerError, OSError, ValueError):
                self.call("exit", timeout=5)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def bliss_venv() -> Path:
    """The venv holding real BLISS 2.4 for interop tests, built on first use.

    BLISS's channel module works without its heavy extras (issue #2): ``bliss`` without its
    dependencies, then the few modules it imports, with the versions BLISS 2.4 runs.
    """
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = root / "tango-channels" / f"bliss-peer-{BLISS_VERSION}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if done.exists():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", f"bliss=={BLISS_VERSION}"],
        [str(python), "-m", "pip", "install", "-q", *BLISS_DEPS],
        [str(python), "-c", "import bliss.config.channels"],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(
                f"building the BLISS peer venv failed at {step[1:4]}: "
                f"{(result.stderr or result.stdout)[-1500:]}"
            )
    done.write_text(BLISS_VERSION)
    return python


def pytango9_venv() -> Path:
    """The python of a venv holding PyTango 9.5.1 (cppTango 9.5), a Tango 9 client, built on
    first use and cached, as :func:`bliss_venv` is (``.complete`` marks a finished venv)."""
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    venv = root / "tango-channels" / f"pytango-{PYTANGO9_VERSION}"
    python = venv / "bin" / "python"
    done = venv / ".complete"
    if done.exists():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "--only-binary=pytango", *PYTANGO9_DEPS],
        [str(python), "-c", f"import tango; assert tango.__version__ == {PYTANGO9_VERSION!r}"],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(
                f"building the PyTango {PYTANGO9_VERSION} venv failed at {step[1:4]}: "
                f"{(result.stderr or result.stdout)[-1500:]}"
            )
    done.write_text(PYTANGO9_VERSION)
    return python
