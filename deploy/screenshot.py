"""README's picture of the quick start's GUI, taken on a virtual X display (Xvfb).

    docs/make-screenshot.sh        # installs what it needs, writes docs/quickstart-gui.png
    python -m tango_channels_deploy.screenshot -o picture.png

Runs ``quickstart --gui`` on its own Xvfb display, waits for Taurus's device panel and trend,
lets the trend gather some history, puts the two windows side by side (Xvfb has no window
manager: every window opens at the top left, over the others), and grabs them with Qt.
The GUI test uses the same pieces (:class:`VirtualDisplay`, :func:`windows`, :func:`grab`).
Needs ``xvfb`` (``deploy/bootstrap.sh --test``), ``python-xlib`` (the test extra) and PyQt5
(the gui extra).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tango_channels_deploy.processes import stop_processes

__all__ = ["VirtualDisplay", "Window", "arrange", "grab", "wait_for_windows", "windows"]

log = logging.getLogger("screenshot")

#: Titles of the quick start's windows: Taurus names its device panel after the device.
PANEL, TREND, FORM = "DEMO/BEACON/1", "roby position", "roby as a Tango motor"

# Qt, as a separate process: a QApplication belongs to one process and one display for good.
_GRAB = """
import sys
from PyQt5.QtWidgets import QApplication
app = QApplication(["grab"])
x, y, w, h = (int(v) for v in sys.argv[2:6])
picture = app.primaryScreen().grabWindow(0, x, y, w, h)
sys.exit(0 if picture.save(sys.argv[1], "PNG") else 1)
"""


class VirtualDisplay:
    """An ``Xvfb`` server on a display number it picks itself (``-displayfd``: no race with
    other users of the machine), until :meth:`stop`. :attr:`name` is ``":<n>"``."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        read, write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [
                    "Xvfb",
                    "-displayfd",
                    str(write),
                    "-screen",
                    "0",
                    f"{width}x{height}x24",
                    "-nolisten",
                    "tcp",
                ],
                pass_fds=(write,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise RuntimeError(
                "Xvfb not found: apt-get install xvfb (deploy/bootstrap.sh --test)"
            ) from None
        finally:
            os.close(write)
        with os.fdopen(read) as numbers:
            ready, _, _ = select.select([numbers], [], [], 30)
            number = numbers.readline().strip() if ready else ""
        if not number:
            self.stop()
            raise RuntimeError("Xvfb did not start within 30 s")
        self.name = f":{number}"
        self.size = (width, height)

    def stop(self) -> None:
        stop_processes([self.process], timeout=10)

    def __enter__(self) -> VirtualDisplay:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Window:
    """A top-level window shown on the display."""

    id: int
    title: str
    x: int
    y: int
    width: int
    height: int


@contextlib.contextmanager
def _connection(display: str) -> Iterator[object]:
    from Xlib import display as xdisplay

    connection = xdisplay.Display(display)
    try:
        yield connection
    finally:
        connection.close()


def windows(display: str) -> list[Window]:
    """The mapped top-level windows that have a title."""
    from Xlib import X

    found = []
    with _connection(display) as connection:
        for child in connection.screen().root.query_tree().children:
            if child.get_attributes().map_state != X.IsViewable:
                continue
            title = child.get_wm_name()
            if title:
                g = child.get_geometry()
                found.append(Window(child.id, str(title), g.x, g.y, g.width, g.height))
    return found


def wait_for_windows(display: str, titles: list[str], timeout: float = 60) -> list[Window]:
    """The windows of those titles (in that order), once all are shown; RuntimeError after
    ``timeout`` seconds naming those still missing."""
    deadline = time.monotonic() + timeout
    while True:
        shown = {w.title: w for w in windows(display)}
        if all(title in shown for title in titles):
            return [shown[title] for title in titles]
        if time.monotonic() > deadline:
            missing = [title for title in titles if title not in shown]
            raise RuntimeError(f"no window {', '.join(missing)} on {display} after {timeout} s")
        time.sleep(0.2)


def arrange(display: str, placed: list[Window], height: int) -> tuple[int, int]:
    """Put the windows side by side from the top left, each ``height`` pixels high; the size
    of the area they then cover."""
    x = 0
    with _connection(display) as connection:
        for window in placed:
            connection.create_resource_object("window", window.id).configure(
                x=x, y=0, height=height
            )
            x += window.width
        connection.sync()
    return x, height


def grab(display: str, path: Path, area: tuple[int, int, int, int] | None = None) -> None:
    """A PNG of the display (or of ``area``, ``(x, y, width, height)``), taken by Qt."""
    x, y, w, h = area or (0, 0, -1, -1)
    with tempfile.TemporaryDirectory() as runtime:  # Qt's, removed after (see taurus_panels)
        subprocess.run(
            [sys.executable, "-c", _GRAB, str(path), str(x), str(y), str(w), str(h)],
            env={**os.environ, "DISPLAY": display, "XDG_RUNTIME_DIR": runtime},
            check=True,
            timeout=60,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/quickstart-gui.png"))
    parser.add_argument(
        "--history", type=float, default=25, help="seconds of trend before the picture"
    )
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with VirtualDisplay(1300, 920) as display:
        env = {**os.environ, "DISPLAY": display.name}
        quickstart = subprocess.Popen(
            [sys.executable, "-m", "tango_channels_deploy.quickstart", "--gui"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            placed = wait_for_windows(display.name, [PANEL, TREND])
            log.info(
                "windows shown on %s; %s s of trend before the picture",
                display.name,
                options.history,
            )
            time.sleep(options.history)
            width, height = arrange(display.name, placed, 900)
            time.sleep(2)  # Qt lays the resized windows out again
            grab(display.name, options.output, (0, 0, width, height))
        finally:
            quickstart.send_signal(signal.SIGTERM)
            quickstart.wait(timeout=60)
    log.info("wrote %s", options.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
