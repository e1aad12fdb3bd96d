"""The quick start running in the background, as a person runs it, and what it printed."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY = "Ctrl-C to stop."


class RunningQuickstart:
    """A quick start process; its output (stdout and stderr) gathered line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its servers and windows in its group, to end them all
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)
        self._new.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        """Until a line containing ``text`` is printed; fails with the output so far."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            try:
                if self._new.get(timeout=max(0.0, deadline - time.monotonic())) is None:
                    raise AssertionError(f"the quick start ended before {text!r}:\n{self.output}")
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} after {timeout} s:\n{self.output[-3000:]}"
                ) from None

    def commands(self) -> list[str]:
        """The commands printed for people to paste: the indented lines of its banner."""
        return [line[2:] for line in self.lines if re.match(r"  \S", line)]

    def server_log(self) -> Path:
        found = re.search(r"Server log: (\S+)\.  ", self.output)
        assert found, self.output
        return Path(found[1])

    def stop(self) -> int:
        """Ctrl-C's equivalent for a service (SIGTERM); the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@contextlib.contextmanager
def running_quickstart(argv: list[str], env: dict[str, str]) -> Iterator[RunningQuickstart]:
    """The quick start until the block ends; one that a failed test left running is stopped
    as Ctrl-C would (it stops its servers and windows), then its whole group killed."""
    quickstart = RunningQuickstart(argv, env)
    try:
        yield quickstart
    finally:
        if quickstart.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                quickstart.stop()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(quickstart.process.pid, signal.SIGKILL)
        quickstart.process.wait()


def fresh_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a person's new terminal: no TANGO_HOST, no display unless given,
    temporary files in ``tmp`` (to see what is left behind)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TANGO_HOST", "DISPLAY")}
    tmp.mkdir(parents=True, exist_ok=True)
    return {**env, "TMPDIR": str(tmp), **extra}


def run_printed(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A printed command, pasted into a shell."""
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
