"""Quick start: a BeaconChannels device showing a simulated BLISS axis, all local.

    ./quickstart.sh [--gui] [--file] [--seconds N] [--redis URL]

Starts a private Redis (unless ``--redis``), an embedded Tango database (pytango-db's
``PyDatabaseds``; ``--file`` uses a Tango file database instead), registers the server
``BeaconChannels/demo`` with the device ``demo/beacon/1`` showing the BLISS axis ``roby``
(``Axes``) and two more channels, and the motor device ``demo/bliss/roby`` (a ``BeaconAxis``)
showing the same axis, starts a simulated BLISS axis publishing them (see
``deploy/demo_motor.py``) and the device server, then prints how to read it, move it and look
at it. ``--gui`` also opens Taurus's device panel, a trend of the position and a Taurus form
of the motor device. Runs until
Ctrl-C, or ``--seconds``. Its files (logs, database) are in a temporary folder removed at the
end, or kept and named when something failed after they were written.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import tango

from tango_channels_deploy import demo_motor
from tango_channels_deploy.demo_commands import Tools
from tango_channels_deploy.embedded_db import EmbeddedDatabase
from tango_channels_deploy.local_redis import LocalRedis
from tango_channels_deploy.ports import free_port
from tango_channels_deploy.processes import stop_processes
from tango_channels_deploy.screenshot import FORM
from tango_channels_deploy.taurus_panels import Panel, TaurusPanels, no_gui_reason

log = logging.getLogger("quickstart")

SERVER, INSTANCE, DEVICE = "BeaconChannels", "demo", "demo/beacon/1"
MOTOR = "demo/bliss/roby"  # the BeaconAxis device of the same axis: a Tango motor
MOTOR_ATTRIBUTES = ["State", "Position", "SetPosition", "Velocity", "Limit_Switches", "Status"]
# The BLISS axis, as the Axes property shows one: axis_roby_position, _state (a DevState),
# _state_names, _velocity... labelled "roby position"..., units from mm. And two channels of
# other BLISS objects: the demo's move request and a cached MUSST parameter.
AXES = ["roby unit=mm format=%.3f"]
CHANNELS = [
    f"{demo_motor.TARGET} type=float access=rw unit=mm format=%.3f "
    """label="roby target (demo)" description="A request the demo motor honours: it moves roby"""
    ''' there, within its limits. A BLISS axis moves with mv, not through Tango."''',
    f'{demo_motor.MUSST} type=str default=unknown label="MUSST program checksum"',
]
POSITION, STATE, TARGET = "axis_roby_position", "axis_roby_state", "roby_demo_target"


def start_server(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    executable = Path(sys.executable).with_name("BeaconChannels")
    with open(log_path, "wb") as out:
        return subprocess.Popen(
            [str(executable), INSTANCE, *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_device(name: str, server: subprocess.Popen[bytes], log_path: Path) -> tango.DeviceProxy:
    deadline = time.monotonic() + 60
    while True:
        try:
            proxy = tango.DeviceProxy(name)
            proxy.ping()
            return proxy
        except tango.DevFailed:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"BeaconChannels did not start:\n{log_path.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)


def panels(tools: Tools) -> list[Panel]:
    """Taurus's panel of the device, a trend of the position and a form of the motor device,
    as their commands."""
    motor = tools.on(MOTOR)
    return [
        Panel("Taurus device panel", tools.taurus("device", tools.taurus_device)),
        Panel(
            "Taurus trend",
            tools.taurus("trend", "--window-name", "roby position", tools.attribute(POSITION)),
        ),
        Panel(
            "Taurus form of the motor",
            tools.taurus(
                "form",
                "--window-name",
                FORM,
                *(motor.attribute(name) for name in MOTOR_ATTRIBUTES),
            ),
        ),
    ]


def banner(
    proxy: tango.DeviceProxy, tools: Tools, gui: list[Panel] | None, server_log: Path
) -> str:
    """What to paste elsewhere; ``gui``: the windows opened, None when none were asked for."""
    read = tools.python(f"print(d.{POSITION}, d.{STATE})")
    motor = tools.on(MOTOR).python("print(d.Position, d.State(), d.Limit_Switches)")
    move = tools.python(f"d.{TARGET} = 7.5")
    lines = [
        f"BeaconChannels is running: device {DEVICE}, {proxy.state()}.",
        proxy.status(),
        "Read it:",
        f"  {read.text}",
        f"The same axis as a Tango motor, device {MOTOR}:",
        f"  {motor.text}",
        "Move the demo motor (a request it honours; it stops moving by itself after the first):",
        f"  {move.text}",
    ]
    if gui:
        lines.append("Taurus, opened now (open them again with):")
        lines.extend(f"  {panel.command.text}" for panel in gui)
    elif gui is None:
        lines.append("See it in Taurus: ./quickstart.sh --gui (installs Taurus the first time).")
    lines.append(f"Server log: {server_log}.  Ctrl-C to stop.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--redis",
        help="Redis URL (default: start a private redis-server); the demo writes the BLISS axis"
        " roby there: use a Redis of your own, not a beamline's",
    )
    parser.add_argument("--file", action="store_true", help="use a Tango file database")
    parser.add_argument("--gui", action="store_true", help="open Taurus's device panel and trend")
    parser.add_argument("--seconds", type=float, help="stop after that many seconds")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="beacon-channels-demo-"))
    try:
        code = run(options, workdir)
    except KeyboardInterrupt:
        code = 0
    except (RuntimeError, OSError) as exc:
        log.error("%s", exc)
        code = 1
        if any(workdir.iterdir()):
            log.error("the demo's logs are kept in %s", workdir)
            return code
    shutil.rmtree(workdir, ignore_errors=True)
    return code


def run(options: argparse.Namespace, workdir: Path) -> int:
    """Start everything, say how to use it, follow the motor; stop everything (in reverse)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.ExitStack() as started:
        redis_url = options.redis
        if redis_url is None:
            local_redis = LocalRedis()
            started.callback(local_redis.stop)
            redis_url = local_redis.url
        start_motor(redis_url, stop, started)
        properties = {
            "RedisUrl": [redis_url],
            "Axes": AXES,
            "Channels": CHANNELS,
            "DiscoveryPeriod": ["1"],
        }
        server_log = workdir / "BeaconChannels.log"
        start = start_in_file if options.file else start_in_database
        server, tools = start(properties, workdir, server_log, started)
        started.callback(stop_server, server)
        proxy = wait_device(tools.device, server, server_log)
        wait_device(tools.on(MOTOR).device, server, server_log)
        gui = shown = None
        if options.gui:
            shown = []
            reason = no_gui_reason(tools.bin / "taurus")
            if reason:
                log.warning("%s", reason)
            else:
                shown = panels(tools)
                gui = TaurusPanels(shown, workdir)
                started.callback(gui.stop)
        log.info("%s", banner(proxy, tools, shown, server_log))
        return follow(proxy, stop, options.seconds, gui)


def start_motor(redis_url: str, stop: threading.Event, started: contextlib.ExitStack) -> None:
    """The demo axis in a thread, once it holds its channels; RuntimeError if it can't."""
    ready = threading.Event()
    error: list[BaseException] = []

    def motor() -> None:
        try:
            demo_motor.run(redis_url, stop, ready)
        except (RuntimeError, OSError, redis.RedisError) as exc:  # said by the main thread
            error.append(exc)
            ready.set()

    thread = threading.Thread(target=motor, name="demo motor", daemon=True)
    thread.start()
    started.callback(thread.join, timeout=5)
    started.callback(stop.set)  # unwound first: the motor stops, then is joined
    ready.wait(30)
    if error:
        raise RuntimeError(f"the demo motor could not start: {error[0]}")


def start_in_file(
    properties: dict[str, list[str]],
    workdir: Path,
    server_log: Path,
    started: contextlib.ExitStack,
) -> tuple[subprocess.Popen[bytes], Tools]:
    """The device server on a Tango file database (``--file``), on a port of its own."""
    db_file = workdir / "demo.db"
    db_file.write_text(
        f"{SERVER}/{INSTANCE}/DEVICE/{SERVER}: {DEVICE}\n"
        f"{SERVER}/{INSTANCE}/DEVICE/BeaconAxis: {MOTOR}\n"
    )
    database = tango.Database(str(db_file))
    database.put_device_property(DEVICE, properties)
    database.put_device_property(MOTOR, {"RedisUrl": properties["RedisUrl"]})
    port = free_port()
    endpoint = ["-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"]
    server = start_server([f"-file={db_file}", *endpoint], dict(os.environ), server_log)
    return server, Tools.without_database(f"127.0.0.1:{port}", DEVICE)


def start_in_database(
    properties: dict[str, list[str]],
    workdir: Path,
    server_log: Path,
    started: contextlib.ExitStack,
) -> tuple[subprocess.Popen[bytes], Tools]:
    """The device server registered in an embedded Tango database (this process uses it too)."""
    database = EmbeddedDatabase(workdir)
    started.callback(database.stop)
    os.environ["TANGO_HOST"] = database.tango_host
    db = tango.Database()
    devices = []
    for name, device_class in ((DEVICE, SERVER), (MOTOR, "BeaconAxis")):
        info = tango.DbDevInfo()
        info.name, info._class, info.server = name, device_class, f"{SERVER}/{INSTANCE}"
        devices.append(info)
    db.add_server(f"{SERVER}/{INSTANCE}", devices)
    db.put_device_property(DEVICE, properties)
    db.put_device_property(MOTOR, {"RedisUrl": properties["RedisUrl"]})
    server = start_server(["-ORBendPoint", "giop:tcp:127.0.0.1:0"], dict(os.environ), server_log)
    return server, Tools(DEVICE, DEVICE, {"TANGO_HOST": database.tango_host})


def stop_server(server: subprocess.Popen[bytes]) -> None:
    stop_processes([server], timeout=15)


def follow(
    proxy: tango.DeviceProxy, stop: threading.Event, seconds: float | None, gui: TaurusPanels | None
) -> int:
    """Log the motor every 2 s until ``stop`` (or ``seconds``); 1 if it never moved in a
    ``--seconds`` run (the quick start's own check), else 0."""
    deadline = None if seconds is None else time.monotonic() + seconds
    seen: set[float] = set()
    while not stop.wait(2.0):
        if gui is not None:
            gui.check()
        reading = proxy.read_attribute(POSITION)
        seen.add(reading.value)
        log.info(
            "%s: roby %.3f mm, %s (event time %s)",
            DEVICE,
            reading.value,
            proxy.read_attribute(STATE).value,
            time.strftime("%H:%M:%S", time.localtime(reading.time.totime())),
        )
        if deadline is not None and time.monotonic() > deadline:
            break
    moving = len(seen) > 1
    log.info("done: %s", "the position moved" if moving else "no movement seen")
    return 0 if moving or seconds is None else 1


if __name__ == "__main__":
    sys.exit(main())
