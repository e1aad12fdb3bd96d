"""Does a Tango client see every value a BLISS session published, once, in order?

One run: a real BLISS 2.4 process (gevent, as a session is) sets one channel at ``rate`` Hz for
``count`` values and a second channel at the same rate; a BeaconChannels device exposes both;
one Tango client is subscribed to the first one's change events, another reads attributes in a
loop, and a CPU-busy process takes a core. What BLISS published is what a listener of its own
on Redis heard: BLISS sends a channel's value when its sending greenlet runs, so two sets in a
row (a busy machine) publish the second only. Used by ``tests/test_exactness.py`` (one run, in the
test command) and ``bench/exactness.py`` (20 runs in a row).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as redis_py
import tango

from support.peers import Peer
from support.redis_server import wait_held
from support.tango_device import Events, running_device
from tango_channels.wire.decode import decode
from tango_channels.wire.messages import ValueMessage


@dataclass
class Outcome:
    published: list[float] = field(default_factory=list)  # what BLISS put on Redis, in order
    values: list[float] = field(default_factory=list)  # the change events' values, in order
    errors: list[str] = field(default_factory=list)  # the error events' descriptions
    coalesced: int = 0

    @property
    def lost(self) -> int:
        return len(set(self.published) - set(self.values))

    @property
    def duplicated(self) -> int:
        return len(self.values) - len(set(self.values))

    @property
    def in_order(self) -> bool:
        return self.values == sorted(self.values)


def one_run(
    redis: object,
    bliss_python: str,
    workdir: Path,
    name: str,
    count: int = 2000,
    rate: float = 200.0,
    busy_cores: int = 1,
) -> Outcome:
    """One run (see the module docstring) on the Redis server ``redis`` (the tests'
    RedisServer), with ``busy_cores`` processes each taking a core meanwhile."""
    url = redis.url  # type: ignore[attr-defined]
    session = Peer(bliss_python, url, impl="bliss")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy_cores)]
    reading = threading.Event()
    moving, other = f"{name}.pos", f"{name}.other"
    heard = _Listener(url, moving)
    try:
        session.call("open", name=moving, value=-1.0)
        session.call("open", name=other, value=-1.0)
        wait_held(redis, moving, other)
        lines = [f"{moving} type=float", f"{other} type=float"]
        with running_device({"RedisUrl": url, "Channels": lines}, workdir) as (proxy, access):
            attribute = proxy.AttributeName(moving)
            events = Events(proxy, attribute)
            reader = threading.Thread(target=_read_until, args=(access, reading), daemon=True)
            reader.start()
            try:
                events.wait(events.value_is(-1.0))
                session.call("stream", name=other, count=count, rate=rate)
                session.call("stream", name=moving, count=count, rate=rate)
                events.wait(events.value_is(float(count - 1)), timeout=count / rate + 60)
            finally:
                reading.set()
                events.close()
            outcome = Outcome(
                heard.until(float(count - 1)),
                coalesced=int(proxy.read_attribute("ValuesCoalesced").value),
            )
            start = next(i for i, e in enumerate(events.seen) if events.value_is(-1.0)(e))
            for event in events.seen[start + 1 :]:
                if event.err:
                    outcome.errors.append(f"{event.errors[0].reason}: {event.errors[0].desc}")
                else:
                    outcome.values.append(float(event.attr_value.value))
            reader.join(timeout=10)
            return outcome
    finally:
        heard.close()
        for process in busy:
            process.kill()
            process.wait()
        session.close()


class _Listener:
    """What is published on one channel, heard on Redis by a plain subscriber."""

    def __init__(self, url: str, name: str) -> None:
        self._client = redis_py.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(name)
        self._pubsub.get_message(timeout=5)  # the subscription confirmed
        self.values: list[float] = []

    def until(self, last: float, timeout: float = 30) -> list[float]:
        """The values published, in order, up to ``last``."""
        deadline = time.monotonic() + timeout
        while last not in self.values and time.monotonic() < deadline:
            message = self._pubsub.get_message(timeout=1)
            if message is not None:
                decoded = decode(message["data"])
                if isinstance(decoded, ValueMessage) and decoded.value != -1.0:
                    self.values.append(float(decoded.value))
        return self.values

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


def _read_until(access: str, stop: threading.Event) -> None:
    """A client reading the device's attributes as fast as it answers."""
    proxy = tango.DeviceProxy(access)
    names = ["State", "Status", "ValuesReceived", "ChannelNames"]
    while not stop.is_set():
        for name in names:
            with contextlib.suppress(tango.DevFailed):
                proxy.read_attribute(name)
