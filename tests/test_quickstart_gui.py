"""``./quickstart.sh --gui``: Taurus's device panel and trend open next to the running demo
(here on Xvfb), their printed commands open them again, and without a display the demo says
so in one line and runs on.

The first run installs the gui extra (and the Debian libraries Qt needs) through the quick
start itself, exactly as a new user's first run does.
"""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest

from support import wait_for
from support.quickstart import READY, REPO, fresh_env, run_printed, running_quickstart
from tango_channels_deploy.screenshot import (
    FORM,
    PANEL,
    TREND,
    VirtualDisplay,
    grab,
    wait_for_windows,
    windows,
)

FIRST_RUN = 900  # seconds: the first run downloads Taurus and PyQt5 and installs apt packages


@pytest.fixture
def display() -> Iterator[VirtualDisplay]:
    try:
        virtual = VirtualDisplay(1280, 800)
    except RuntimeError as exc:
        pytest.fail(f"{exc}: the test command installs it (deploy/bootstrap.sh --test)")
    with virtual:
        yield virtual


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def titles(display: VirtualDisplay) -> list[str]:
    return [window.title for window in windows(display.name)]


@pytest.mark.parametrize("database", ["embedded", "file"])
def test_gui_opens_the_device_panel_and_a_trend_and_its_commands_open_them_again(
    database, display, tmp_path
):
    env = fresh_env(tmp_path / "tmp", DISPLAY=display.name)
    args = [str(REPO / "quickstart.sh"), "--gui", *(["--file"] if database == "file" else [])]
    with running_quickstart(args, env) as quickstart:
        quickstart.wait_for(READY, timeout=FIRST_RUN)
        empty = tmp_path / "empty.png"  # the control: before the windows, once Qt is installed
        grab(display.name, empty)
        wait_for_windows(display.name, [PANEL, TREND, FORM])

        picture = tmp_path / "gui.png"
        grab(display.name, picture)
        assert png_size(picture) == png_size(empty) == (1280, 800)
        assert picture.stat().st_size > 2 * empty.stat().st_size, "no more than an empty screen"

        read, _motor, _move, *gui = quickstart.commands()
        assert run_printed(read, env, tmp_path).returncode == 0
        assert len(gui) == 3, quickstart.output
        for command, title in zip(gui, [PANEL, TREND, FORM], strict=True):
            again = subprocess.Popen(
                ["bash", "-c", command], cwd=tmp_path, env=env, start_new_session=True
            )
            try:
                wait_for(lambda t=title: titles(display).count(t) == 2, 60, f"a second {title}")
            finally:
                os.killpg(again.pid, signal.SIGTERM)
                try:
                    again.wait(timeout=30)
                except subprocess.TimeoutExpired:  # a Qt window busy on a loaded machine
                    os.killpg(again.pid, signal.SIGKILL)
                    again.wait(timeout=30)

        assert quickstart.stop() == 0, quickstart.output[-3000:]
    wait_for(
        lambda: not {PANEL, TREND, FORM} & set(titles(display)),
        30,
        "the windows closed with the demo",
    )
    assert not list((tmp_path / "tmp").glob("beacon-channels-demo-*")), "demo files left behind"


def test_without_a_display_it_says_so_in_one_line_and_runs_on(tmp_path):
    args = [sys.executable, "-m", "tango_channels_deploy.quickstart", "--gui", "--seconds", "7"]
    done = subprocess.run(
        args, cwd=REPO, env=fresh_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    said = [line for line in output.splitlines() if re.search(r"\bdisplay\b", line, re.I)]
    assert len(said) == 1, output
    assert "no display (DISPLAY is not set)" in said[0]
    assert "taurus" not in output.replace("Taurus", ""), "a Taurus command printed anyway"
    assert "done: the position moved" in output
