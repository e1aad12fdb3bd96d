"""The README's main command: the quick start runs, and the device follows the demo motor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("database", ["embedded", "file"])
def test_the_quick_start_shows_a_moving_motor(database):
    args = [sys.executable, "-m", "tango_channels_deploy.quickstart", "--seconds", "7"]
    if database == "file":
        args.append("--file")
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "BeaconChannels is running: device demo/beacon/1, ON." in output
    assert "5 channels exposed as attributes." in output
    assert "done: the position moved" in output
