"""Quick start: two processes sharing BLISS channels through a Redis server started here.

    python -m deploy.quickstart [--redis URL] [--seconds N]

A "motor" process holds ``demo.roby.position`` and ``demo.roby.state`` and moves; a
"watcher" process joins later, gets the current values from the motor (the BLISS query
protocol), then follows every change through callbacks. Both log what they do.
"""

from __future__ import annotations

import argparse
import logging
import math
import subprocess
import sys
import threading
import time

from deploy.local_redis import LocalRedis

log = logging.getLogger("quickstart")


def motor(url: str, seconds: float) -> None:
    from tango_channels import Channel

    position = Channel("demo.roby.position", default_value=0.0, redis=url)
    state = Channel("demo.roby.state", default_value="READY", redis=url)
    log.info(
        "motor: holding demo.roby.position=%s, demo.roby.state=%s", position.value, state.value
    )
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        state.value = "MOVING"
        for _ in range(20):
            position.value = round(10 * math.sin((time.monotonic() - started) / 2), 3)
            time.sleep(0.05)
        state.value = "READY"
        log.info("motor: stopped at %s", position.value)
        time.sleep(1)


def watcher(url: str, seconds: float) -> None:
    from tango_channels import Channel

    position = Channel("demo.roby.position", redis=url)
    state = Channel("demo.roby.state", redis=url)
    log.info("watcher: joined, the motor says position=%s state=%s", position.value, state.value)
    changes = {"position": 0}

    def on_position(value: float) -> None:
        changes["position"] += 1

    def on_state(value: str) -> None:
        log.info(
            "watcher: state -> %s (position %s, %d position updates so far)",
            value,
            position.value,
            changes["position"],
        )

    position.register_callback(on_position)
    state.register_callback(on_state)
    threading.Event().wait(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", help="Redis URL (default: start a private redis-server)")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--role", choices=["motor", "watcher"], help="run one side only")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    if options.role:
        {"motor": motor, "watcher": watcher}[options.role](options.redis, options.seconds)
        return

    redis = None if options.redis else LocalRedis()
    url = options.redis or redis.url
    log.info("Redis at %s", url)
    run = [sys.executable, "-m", "deploy.quickstart", "--redis", url]
    try:
        motor_process = subprocess.Popen(
            [*run, "--role", "motor", "--seconds", str(options.seconds)]
        )
        time.sleep(1.5)
        watcher_process = subprocess.Popen(
            [*run, "--role", "watcher", "--seconds", str(options.seconds - 2)]
        )
        watcher_process.wait()
        motor_process.wait()
    finally:
        if redis is not None:
            redis.stop()
    log.info("done")


if __name__ == "__main__":
    main()
