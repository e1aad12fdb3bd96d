"""Quick start: a BeaconChannels device showing a simulated BLISS motor, all local.

    ./quickstart.sh [--file] [--seconds N] [--redis URL]

Starts a private Redis (unless ``--redis``), an embedded Tango database (pytango-db's
``PyDatabaseds``; ``--file`` uses a Tango file database instead), registers the server
``BeaconChannels/demo`` with the device ``demo/beacon/1`` and a few ``Channels`` lines, starts
a simulated BLISS-like motor publishing through tango_channels (see ``deploy/demo_motor.py``)
and the device server, then prints how to read it. Runs until Ctrl-C, or ``--seconds``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import tango

from tango_channels_deploy import demo_motor
from tango_channels_deploy.embedded_db import EmbeddedDatabase, free_port
from tango_channels_deploy.local_redis import LocalRedis

log = logging.getLogger("quickstart")

SERVER, INSTANCE, DEVICE = "BeaconChannels", "demo", "demo/beacon/1"
CHANNELS = [
    'demo.roby.position type=float unit=mm format=%.3f label="roby position"',
    "demo.roby.state type=state",
    "demo.roby.target type=float access=rw unit=mm",
    "demo.*.velocity type=float unit=mm/s",
    "demo.musst:last__md5 default=unknown",
]


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
                    f"BeaconChannels did not start, see {log_path}:\n{log_path.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", help="Redis URL (default: start a private redis-server)")
    parser.add_argument("--file", action="store_true", help="use a Tango file database")
    parser.add_argument("--seconds", type=float, help="stop after that many seconds")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="beacon-channels-demo-"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    redis = None if options.redis else LocalRedis()
    redis_url = options.redis or redis.url
    motor = threading.Thread(target=demo_motor.run, args=(redis_url, stop), daemon=True)
    motor.start()
    properties = {"RedisUrl": [redis_url], "Channels": CHANNELS, "DiscoveryPeriod": ["1"]}
    database = server = None
    env = dict(os.environ)
    server_log = workdir / "BeaconChannels.log"
    try:
        if options.file:
            db_file = workdir / "demo.db"
            db_file.write_text(f"{SERVER}/{INSTANCE}/DEVICE/{SERVER}: {DEVICE}\n")
            tango.Database(str(db_file)).put_device_property(DEVICE, properties)
            port = free_port()
            server = start_server(
                [f"-file={db_file}", "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"], env, server_log
            )
            name = f"tango://127.0.0.1:{port}/{DEVICE}#dbase=no"
            taurus = f"tango-nodb://127.0.0.1:{port}/{DEVICE}"
            use = f"python -c \"import tango; d = tango.DeviceProxy('{name}')"
        else:
            database = EmbeddedDatabase(workdir)
            env["TANGO_HOST"] = os.environ["TANGO_HOST"] = database.tango_host
            db = tango.Database()
            info = tango.DbDevInfo()
            info.name, info._class, info.server = DEVICE, SERVER, f"{SERVER}/{INSTANCE}"
            db.add_server(info.server, [info])
            db.put_device_property(DEVICE, properties)
            server = start_server(["-ORBendPoint", "giop:tcp:127.0.0.1:0"], env, server_log)
            name = DEVICE
            taurus = f"tango://{database.tango_host}/{DEVICE}"
            use = (
                f'TANGO_HOST={database.tango_host} python -c "import tango; '
                f"d = tango.DeviceProxy('{DEVICE}')"
            )
        proxy = wait_device(name, server, server_log)
        log.info(
            f"""BeaconChannels is running: device {DEVICE}, {proxy.state()}.
{proxy.status()}
Read it (from {Path.cwd()}, with .venv/bin/python):
  {use}; print(d.demo_roby_position, d.demo_roby_state, d.ChannelNames)"
Move the demo motor (a write, published to the channel):
  {use}; d.demo_roby_target = 7.5"
Taurus (pip install taurus pyqt5): taurus form {taurus}/demo_roby_position {taurus}/demo_roby_state
Server log: {server_log}.  Ctrl-C to stop."""
        )
        deadline = None if options.seconds is None else time.monotonic() + options.seconds
        seen: set[float] = set()
        while not stop.wait(2.0):
            reading = proxy.read_attribute("demo_roby_position")
            seen.add(reading.value)
            log.info(
                "%s: roby %s mm, %s (event time %s)",
                DEVICE,
                reading.value,
                proxy.demo_roby_state,
                time.strftime("%H:%M:%S", time.localtime(reading.time.totime())),
            )
            if deadline is not None and time.monotonic() > deadline:
                break
        moving = len(seen) > 1
        log.info("done: %s", "the position moved" if moving else "no movement seen")
        return 0 if moving or options.seconds is None else 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        if server is not None:
            server.terminate()
            server.wait(timeout=15)
        motor.join(timeout=5)
        if database is not None:
            database.stop()
        if redis is not None:
            redis.stop()


if __name__ == "__main__":
    sys.exit(main())
