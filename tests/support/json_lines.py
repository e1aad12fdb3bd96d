"""A helper process a test drives by JSON lines: ``peer.py`` (a BLISS or tango-channels peer)
and ``bliss_session.py`` (a BLISS process of a real Beacon) speak the same protocol.

The test writes ``{"id": n, "cmd": ..., **args}``; the process answers ``{"id": n, "ok": ...}``
(with ``error`` and ``traceback`` when not ok), announces itself with ``{"ready": ...}`` and
reports what it watches as ``{"event": ...}`` lines, in any order with the answers.

Two reader threads own the pipes: one puts each answer in the queue of its id and each event
in :attr:`JsonLineProcess.events`, the other keeps stderr (the process's log) for error
messages. :meth:`JsonLineProcess.call` is the test's thread only.
"""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["JsonLineProcess"]

Event = dict[str, Any]
GONE: Event = {"gone": True}  # put in the answer queues when the process's stdout ends


class JsonLineProcess:
    """One running helper process (see the module docstring). ``label`` names it in errors,
    which are ``error`` (an ``AssertionError`` subclass: a test fails, it does not error);
    ``log_path``, when given, keeps its stderr in a file (else in memory)."""

    error: type[AssertionError] = AssertionError

    def __init__(
        self,
        args: Sequence[str],
        label: str,
        env: dict[str, str],
        cwd: Path,
        log_path: Path | None = None,
        timeout: float = 30,
    ) -> None:
        self.label = label
        self.log_path = log_path
        self.process = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self.events: queue.Queue[Event] = queue.Queue()
        self._answers: dict[int, queue.Queue[Event]] = {}
        self._answers_lock = threading.Lock()  # the stdout reader and the test add queues
        self._ready: queue.Queue[Event] = queue.Queue()
        self._log: list[bytes] = []  # stderr, without log_path; owner: the stderr reader
        self._next_id = 0
        self._gone = False  # its stdout ended; under _answers_lock
        threading.Thread(target=self._read, daemon=True, name=f"{label} stdout").start()
        self._stderr_reader = threading.Thread(
            target=self._read_stderr, daemon=True, name=f"{label} stderr"
        )
        self._stderr_reader.start()
        try:
            self.started: Event = self._check(self._ready.get(timeout=timeout))
        except queue.Empty:
            self.close()
            raise self.error(f"{label} did not start: {self.stderr()}") from None

    def _queue(self, ident: int) -> queue.Queue[Event]:
        with self._answers_lock:
            answers = self._answers.setdefault(ident, queue.Queue())
            if self._gone:
                answers.put(GONE)
            return answers

    def _check(self, message: Event) -> Event:
        """``message``, unless it says the process is gone: then :attr:`error`, with its log
        (read to its end first)."""
        if message is GONE:
            self._stderr_reader.join(5)
            raise self.error(f"{self.label} exited ({self.process.wait(5)}): {self.stderr()}")
        return message

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:  # something printed on stdout: keep it with the log
                self._keep(line)
                continue
            if "ready" in message:
                self._ready.put(message)
            elif "event" in message:
                self.events.put(message)
            else:
                self._queue(message["id"]).put(message)
        with self._answers_lock:  # every caller waiting, and any to come, learns it
            self._gone = True
            for answers in (*self._answers.values(), self._ready):
                answers.put(GONE)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._keep(line)

    def _keep(self, line: bytes) -> None:
        if self.log_path is None:
            self._log.append(line)
            return
        with open(self.log_path, "ab") as log:
            log.write(line)

    def stderr(self, tail: int = 3000) -> str:
        """The last ``tail`` characters of its log."""
        if self.log_path is None:
            return b"".join(self._log).decode(errors="replace")[-tail:]
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def call(self, cmd: str, timeout: float = 30, check: bool = True, **args: Any) -> Event:
        """Send ``cmd`` and wait ``timeout`` seconds for its answer; with ``check``, an error
        answer raises :attr:`error` with the process's traceback."""
        self._next_id += 1
        ident = self._next_id
        answers = self._queue(ident)
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps({"id": ident, "cmd": cmd, **args}) + "\n").encode())
        self.process.stdin.flush()
        try:
            answer = self._check(answers.get(timeout=timeout))
        except queue.Empty:
            raise self.error(
                f"{self.label}: no answer to {cmd} {args} in {timeout} s; log: {self.stderr()}"
            ) from None
        if check and not answer["ok"]:
            raise self.error(
                f"{self.label}: {cmd} {args} failed: {answer['error']}\n"
                f"{answer.get('traceback', '')}"
            )
        return answer

    def next_event(self, timeout: float = 10) -> Event:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise self.error(f"{self.label}: no event within {timeout} s") from None

    def events_until(
        self, predicate: Callable[[Event], bool], timeout: float = 10
    ) -> tuple[Event, list[Event]]:
        """The first event matching ``predicate``, and the events before it (taken from
        :attr:`events`)."""
        deadline = time.monotonic() + timeout
        before: list[Event] = []
        while True:
            event = self.next_event(max(0.0, deadline - time.monotonic()))
            if predicate(event):
                return event, before
            before.append(event)

    def close(self) -> None:
        """``exit``, else SIGKILL (a process stuck in its interpreter's shutdown may ignore
        SIGTERM)."""
        if self.process.poll() is None:
            with contextlib.suppress(AssertionError, OSError, ValueError):
                self.call("exit", timeout=5)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
