"""The quick start's GUI: Taurus's own device panel and trend, run as separate programs.

They are the standard ``taurus device`` and ``taurus trend`` commands (the quick start prints
them, to be opened again or pointed at another device), each in its own process with its
output in a log file: Taurus and Qt talk a lot on the console, and the demo's console is for
the demo. Whatever goes wrong with them (no display, Taurus not installed, Qt missing a
library, a window closed) is one line in the demo's log, and the demo runs on.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tango_channels_deploy.demo_commands import Command
from tango_channels_deploy.processes import stop_processes

__all__ = ["Panel", "TaurusPanels", "no_gui_reason"]

log = logging.getLogger("quickstart")

_XCB_FAILURE = 'Could not load the Qt platform plugin "xcb"'
_NO_DISPLAY = re.compile(r"could not connect to display (\S*)")
# With QT_DEBUG_PLUGINS=1 Qt says which library its xcb plugin could not load.
_MISSING_LIBRARY = re.compile(r"\(([^():]+\.so[.\d]*): cannot open shared object file")


@dataclass(frozen=True)
class Panel:
    """One window: what a person calls it, and the command that opens it."""

    title: str
    command: Command


def no_gui_reason(taurus: Path) -> str | None:
    """Why no window can be opened here (one line), or None when it can."""
    if not os.environ.get("DISPLAY"):
        return (
            "no display (DISPLAY is not set): the Taurus panel and trend are not opened;"
            " the demo runs on"
        )
    if not taurus.exists():
        return (
            f"Taurus is not installed in {taurus.parent.parent}: ./quickstart.sh --gui"
            " installs it (the project's gui extra); the demo runs on"
        )
    return None


class TaurusPanels:
    """The GUI programs of the quick start, started together, watched, stopped together."""

    def __init__(self, panels: list[Panel], logs: Path) -> None:
        self._running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        # Qt wants a private runtime folder; without a desktop session (ssh -X, Xvfb) it would
        # make /tmp/runtime-<user> and say so: ours is removed with the demo's files.
        runtime = {} if os.environ.get("XDG_RUNTIME_DIR") else {"XDG_RUNTIME_DIR": str(logs)}
        qt = {**runtime, "QT_DEBUG_PLUGINS": "1"}  # only in their logs: see _why
        for panel in panels:
            path = logs / f"{panel.title.replace(' ', '-')}.log"
            with open(path, "wb") as out:
                process = subprocess.Popen(
                    panel.command.argv,
                    env={**os.environ, **qt, **panel.command.env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            self._running[panel.title] = (process, path)

    def check(self) -> None:
        """Say, once each, which windows went away and why."""
        for title, (process, path) in list(self._running.items()):
            code = process.poll()
            if code is None:
                continue
            del self._running[title]
            if code == 0:
                log.info("the %s was closed", title)
            else:
                log.warning("the %s stopped (exit code %s): %s", title, code, _why(path))

    def stop(self) -> None:
        stop_processes((process for process, _ in self._running.values()), timeout=10)
        self._running.clear()


def _why(log_path: Path) -> str:
    """What went wrong, from a GUI program's log, in words a person can act on."""
    text = log_path.read_text(errors="replace")
    if display := _NO_DISPLAY.search(text):
        return f"Qt could not connect to the display {display[1]} (DISPLAY)"
    if _XCB_FAILURE in text:
        missing = ", ".join(sorted(set(_MISSING_LIBRARY.findall(text)))) or "a library"
        return (
            f"Qt could not load its xcb platform plugin, missing {missing}"
            " (deploy/bootstrap.sh --gui installs the Debian libraries it needs)"
        )
    lines = [line.strip() for line in text.splitlines()]
    errors = [line for line in lines if "Error" in line or "CRITICAL" in line]
    return (errors or [line for line in lines if line] or ["no output"])[-1]
