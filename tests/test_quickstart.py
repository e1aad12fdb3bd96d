"""The README's main command: the quick start runs, the device follows the demo axis, and
every command it prints works when pasted into a new terminal elsewhere."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from support.quickstart import READY, REPO, fresh_env, run_printed, running_quickstart

QUICKSTART = [sys.executable, "-m", "tango_channels_deploy.quickstart"]


@pytest.mark.parametrize("database", ["embedded", "file"])
def test_the_quick_start_shows_a_moving_motor(database, tmp_path):
    args = [*QUICKSTART, "--seconds", "7"]
    if database == "file":
        args.append("--file")
    env = fresh_env(tmp_path / "tmp")
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "BeaconChannels is running: device demo/beacon/1, ON." in output
    assert "15 channels exposed as attributes." in output
    assert "done: the position moved" in output
    assert not list((tmp_path / "tmp").glob("beacon-channels-demo-*")), "demo files left behind"


@pytest.mark.parametrize("database", ["embedded", "file"])
def test_every_printed_command_works_as_printed(database, tmp_path):
    env = fresh_env(tmp_path / "tmp")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = [*QUICKSTART, *(["--file"] if database == "file" else [])]
    with running_quickstart(args, env) as quickstart:
        quickstart.wait_for(READY, timeout=120)
        read, motor, move = quickstart.commands()
        assert quickstart.server_log().exists(), "the server log it names is not there"

        shown = run_printed(read, env, elsewhere)
        assert shown.returncode == 0, shown.stderr[-3000:]
        assert re.fullmatch(r"-?\d+(\.\d+)? (ON|MOVING)\n", shown.stdout), shown.stdout
        as_motor = run_printed(motor, env, elsewhere)  # the motor device of the same axis
        assert as_motor.returncode == 0, as_motor.stderr[-3000:]
        assert re.fullmatch(
            r"-?\d+(\.\d+)? (ON|MOVING) \[False False False\]\n", as_motor.stdout
        ), as_motor.stdout

        moved = run_printed(move, env, elsewhere)
        assert moved.returncode == 0, moved.stderr[-3000:]
        deadline = time.monotonic() + 60
        while (shown := run_printed(read, env, elsewhere)).stdout != "7.5 ON\n":
            assert time.monotonic() < deadline, f"the motor is not at 7.5: {shown.stdout}"
            time.sleep(0.5)
        assert run_printed(motor, env, elsewhere).stdout.startswith("7.5 ON ")

        assert quickstart.stop() == 0, quickstart.output[-3000:]
    assert not quickstart.server_log().exists()
    assert not list((tmp_path / "tmp").glob("beacon-channels-demo-*")), "demo files left behind"
