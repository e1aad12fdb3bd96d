"""What must always hold, seen from the device: faults, load, and hostile or broken input.

Each test runs the real BeaconChannels server (its console script) against a real Redis on
loopback, with holders in this process or in peer processes as BLISS would be, and real
clients. What is checked is what people see: State and Status, what a read returns, which
events clients get, and that values flow again afterwards. Every wait is bounded; nothing
checks how long anything took.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy
import pytest
import redis
import tango
from tango import AttrDataFormat, AttrQuality, CmdArgType, DevState

from support import wait_for
from support.axes import device_connections
from support.redis_server import RedisServer, wait_held
from support.tango_device import Events, outcome, running_device, shows
from tango_channels import Channel
from tango_channels.wire.encode import encode_value
from tango_channels_device.tango_types import MAX_SPECTRUM, client_text

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ helpers
def wait_shown(proxy: tango.DeviceProxy, attribute: str, value: Any, what: str = "") -> None:
    """Wait until the attribute reads ``value``, VALID."""
    wait_for(lambda: shows(proxy, attribute, value), what=what or f"{attribute} == {value!r}")


def state_is(state: DevState):
    return lambda event: not event.err and event.attr_value.value == state


def wait_flowing(proxy: tango.DeviceProxy, attribute: str) -> None:
    """Wait until the attribute (a counter someone increments) shows a new value."""
    seen = proxy.read_attribute(attribute).value
    wait_for(lambda: proxy.read_attribute(attribute).value > seen, what="values flowing")


def server_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for process {pid}")


def latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class Script:
    """A Python helper process (its code below), talking in lines on stdin and stdout."""

    def __init__(self, code: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        self._lines: list[str] = []
        self._arrived = threading.Condition()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._arrived:
                self._lines.append(line.rstrip("\n"))
                self._arrived.notify_all()
        with self._arrived:
            self._lines.append("")  # end of output
            self._arrived.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self._stderr.extend(self.process.stderr)

    def line(self, timeout: float = 60) -> str:
        """The next line it prints; fails after ``timeout`` s or if it exits first."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not self._lines:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"helper printed nothing in {timeout} s: {self.stderr()}")
                self._arrived.wait(remaining)
            line = self._lines.pop(0)
        if line == "" and self.process.poll() is not None:
            raise AssertionError(f"helper exited ({self.process.returncode}): {self.stderr()}")
        return line

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def running(self) -> bool:
        return self.process.poll() is None

    def stderr(self) -> str:
        return "".join(self._stderr)[-3000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


class Feeder:
    """Sets a channel to 1, 2, 3... every few milliseconds in a thread: values flowing."""

    def __init__(self, channel: Channel, limit: int = 200_000) -> None:
        self.channel = channel
        self.limit = limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for value in range(1, self.limit + 1):
            if self._stop.wait(0.003):
                return
            self.channel.value = value

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()


class Call:
    """Pickles as ``function(*args)``: what a hostile sender writes with ``__reduce__``."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.function, self.args


# ------------------------------------------------------------------ 1. Redis faults
RESTARTS = 20


def test_redis_restarts_fault_then_recover_with_holders_asked_again_and_nothing_leaked(
    own_redis, make_bus, make_peer, unique
):
    name, flow = f"{unique}.pos", f"{unique}.flow"
    holder = make_peer(own_redis.url)  # a BLISS-like holder in its own process
    holder.call("open", name=name, value=0.0)
    bus = make_bus(own_redis.url)
    flowing = Channel(flow, value=0, bus=bus)
    wait_held(own_redis, name, flow)
    lines = [f"{name} type=float", f"{flow} type=int"]
    with running_device({"RedisUrl": own_redis.url, "Channels": lines}) as device:
        proxy, _ = device
        position, counter = proxy.AttributeName(name), proxy.AttributeName(flow)
        states, values = Events(proxy, "State"), Events(proxy, position)
        feeder = Feeder(flowing)
        try:
            wait_flowing(proxy, counter)
            threads, connections = server_threads(device.pid), device_connections(own_redis)
            assert connections == 3  # the bus's reader and writer, the survey's

            for restart in range(1, RESTARTS + 1):
                own_redis.kill()
                states.wait(state_is(DevState.FAULT))
                status = proxy.status()
                assert f"Redis at {own_redis.url} unreachable since" in status, status
                # The last value is no longer vouched for: reads and events say why, with it.
                what, why = outcome(proxy, position)
                assert what == "error" and "unreachable since" in why, why
                assert f"(last value {float(restart - 1)})" in why, why
                values.wait(lambda e: e.err and "unreachable since" in e.errors[0].desc)
                holder.call("set", name=name, value=float(restart))  # changed meanwhile

                own_redis.start()
                states.wait(state_is(DevState.ON), timeout=15)
                values.wait(values.value_is(float(restart)))
                wait_shown(proxy, position, restart, "the value set during the outage")
                wait_flowing(proxy, counter)
            assert proxy.state() == DevState.ON
            assert f"Connected to Redis at {own_redis.url}" in proxy.status()
            # omniORB keeps an idle worker of its pool for its idleThreadTimeout (10 s) after
            # two client calls overlapped: give it that, and more, before counting.
            wait_for(
                lambda: server_threads(device.pid) <= threads,
                timeout=30,
                what=f"the server's threads back to the {threads} it had",
            )
            # The survey makes its connection again at its next look (every 2 s): wait for
            # it, then none more than before the restarts.
            wait_for(
                lambda: device_connections(own_redis) == connections,
                timeout=15,
                what=f"the {connections} Redis connections the server had, and no more",
            )
        finally:
            feeder.stop()
            states.close()
            values.close()


def test_a_device_cut_off_alone_asks_the_holders_again_when_it_is_back(
    own_redis, make_peer, unique
):
    """Only the device loses Redis (its Redis user disabled, its connections killed) while
    the holder stays connected: the value set meanwhile reaches the device only because it
    asks the holders again when it is back."""
    url = own_redis.user_url("bridge")
    name = f"{unique}.pos"
    holder = make_peer(own_redis.url)
    holder.call("open", name=name, value=1.0)
    wait_held(own_redis, name)
    with running_device({"RedisUrl": url, "Channels": [f"{name} type=float"]}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        wait_shown(proxy, attribute, 1.0, "the first value")
        with own_redis.locked_out("bridge"):
            wait_for(lambda: proxy.state() == DevState.FAULT, what="the device cut off")
            holder.call("set", name=name, value=2.0)  # published while the device can't hear
            assert outcome(proxy, attribute)[0] == "error"
        wait_for(lambda: proxy.state() == DevState.ON, what="the device back")
        wait_shown(proxy, attribute, 2.0, "the holder's value, asked for again")


def test_redis_absent_at_start_is_a_fault_naming_it_then_on_by_itself(tmp_path, make_peer, unique):
    late = RedisServer(tmp_path / "late")  # a free port with nothing listening yet
    typed, untyped = f"{unique}.typed", f"{unique}.untyped"
    lines = [f"{typed} type=float", untyped]
    try:
        with running_device({"RedisUrl": late.url, "Channels": lines}) as (proxy, _):
            assert proxy.state() == DevState.FAULT
            status = proxy.status()
            assert f"Redis at {late.url} unreachable since" in status, status
            assert "Connection refused" in status and "retrying" in status

            late.start()
            holder = make_peer(late.url)
            holder.call("open", name=typed, value=1.5)
            holder.call("open", name=untyped, value="two")
            wait_for(lambda: proxy.state() == DevState.ON, timeout=15, what="ON")
            assert f"Connected to Redis at {late.url}" in proxy.status()
            # The untyped line gets its attribute with its first value.
            wait_for(lambda: sorted(proxy.ChannelNames) == sorted([typed, untyped]))
            wait_for(lambda: shows(proxy, proxy.AttributeName(typed), 1.5))
            wait_for(lambda: shows(proxy, proxy.AttributeName(untyped), "two"))
    finally:
        late.kill()


def booted_a_minute_ago() -> tuple[str, ...]:
    """A command prefix running the server in a time namespace where the machine booted a
    minute ago: a beamline server started at boot."""
    offset = -max(0, int(time.clock_gettime(time.CLOCK_MONOTONIC)) - 60)
    prefix = ("unshare", "--time", f"--monotonic={offset}", f"--boottime={offset}")
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no time namespace on this machine: {probe.stderr.decode().strip()}")
    return prefix


def test_attributes_added_minutes_after_boot_before_any_client_keep_the_server_up(
    own_redis, make_peer, unique
):
    # cppTango 10.3 crashed here (SIGSEGV) without device_classes/event_socket.py: an
    # attribute added once the server runs, in the first 10 minutes after boot, before any
    # client subscribed to any event.
    untyped, matched = f"{unique}.untyped", f"{unique}.glob.a"
    lines = [untyped, f"{unique}.glob.*"]
    with running_device(
        {"RedisUrl": own_redis.url, "Channels": lines, "DiscoveryPeriod": 0.5},
        prefix=booted_a_minute_ago(),
    ) as device:
        proxy, _ = device
        holder = make_peer(own_redis.url)
        holder.call("open", name=untyped, value=1.5)
        holder.call("open", name=matched, value="a")
        wait_for(lambda: sorted(proxy.ChannelNames) == sorted([untyped, matched]))
        time.sleep(2)  # cppTango pushes the interface change from its own thread, later
        assert shows(proxy, proxy.AttributeName(untyped), 1.5)
        assert shows(proxy, proxy.AttributeName(matched), "a")
        assert proxy.state() == DevState.ON, proxy.status()
        assert "Segmentation fault" not in device.log.read_text()


@pytest.mark.parametrize("how", ["slow", "paused"])
def test_a_redis_that_stops_answering_is_caught_by_the_health_check(
    own_redis, make_bus, unique, how
):
    name = f"{unique}.pos"
    bus = make_bus(own_redis.url)
    holder = Channel(name, value=1.0, bus=bus)
    wait_held(own_redis, name)
    with running_device({"RedisUrl": own_redis.url, "Channels": [name]}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        states = Events(proxy, "State")
        slept: list[bytes] = []
        sleeper = threading.Thread(
            target=lambda: slept.append(own_redis.command("DEBUG", "SLEEP", "4"))
        )
        try:
            if how == "slow":
                sleeper.start()  # the server does nothing for 4 s; connections stay open
            else:
                own_redis.pause()  # SIGSTOP: half-open connections, nothing answers
            try:
                states.wait(state_is(DevState.FAULT))
                status = proxy.status()
                assert "did not answer" in status, status
                what, why = outcome(proxy, attribute)
                assert what == "error" and "did not answer" in why, why
            finally:
                if how == "slow":
                    sleeper.join(timeout=20)
                else:
                    own_redis.resume()
            if how == "slow":
                assert slept == [b"OK\n"]
            states.wait(state_is(DevState.ON), timeout=20)
            wait_for(lambda: shows(proxy, attribute, 1.0), what="the value, VALID again")
            wait_for(lambda: bus.connected, what="the holder reconnected")
            holder.value = 2.0
            wait_for(lambda: shows(proxy, attribute, 2.0), what="values flowing again")
        finally:
            states.close()


# ------------------------------------------------------------------ 2. holders and load
QUERIERS = """
import json, os, sys
from tango_channels import Bus, Channel

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
results_r, results_w = os.pipe()
children = []
for _ in range(count):  # processes of their own, as BLISS sessions are: forked, imports done
    pid = os.fork()
    if pid == 0:
        for unused in (ready_r, go_w, results_r):  # so that each child ends with the parent
            os.close(unused)
        bus = Bus(url)
        os.write(ready_w, b"1" if bus.wait_connected(20) else b"0")
        os.read(go_r, 1)  # all together
        try:
            value = Channel(name, bus=bus, timeout=30).value
        except TimeoutError as exc:
            value = str(exc)
        os.write(results_w, (json.dumps(value) + "\\n").encode())  # atomic: < PIPE_BUF
        bus.close()
        os._exit(0)
    children.append(pid)
ready = b"".join(os.read(ready_r, 1) for _ in range(count))
print(json.dumps(ready == b"1" * count), flush=True)
sys.stdin.readline()
os.write(go_w, b"g" * count)
results = b""
while results.count(b"\\n") < count:
    results += os.read(results_r, 65536)
for pid in children:
    os.waitpid(pid, 0)
print(json.dumps([json.loads(line) for line in results.splitlines()]), flush=True)
"""
NEWCOMERS = 100


def test_a_dead_holder_s_value_is_let_go_and_100_newcomers_start_from_their_default(
    redis_server, make_bus, make_peer, unique
):
    """BLISS's own rule, with the device there: once the last holder goes, the value goes.
    The device notices within DiscoveryPeriod and says since when (and the last value), and
    100 newcomer processes asking at once all start from their own default, as without it."""
    kept, other = f"{unique}.kept", f"{unique}.other"
    mortal = make_peer(redis_server.url)
    mortal.call("open", name=kept, value=41.5)
    bus = make_bus(redis_server.url)
    living = Channel(other, value=0.0, bus=bus)
    wait_held(redis_server, kept, other)
    lines = [f"{kept} type=float", f"{other} type=float"]
    properties = {"RedisUrl": redis_server.url, "Channels": lines, "DiscoveryPeriod": 0.5}
    with running_device(properties) as (proxy, _):
        kept_attribute, other_attribute = proxy.AttributeName(kept), proxy.AttributeName(other)
        assert shows(proxy, kept_attribute, 41.5)
        events = Events(proxy, kept_attribute)
        try:
            mortal.kill()  # mid-way: no goodbye
            events.wait(
                lambda e: not e.err and e.attr_value.quality == AttrQuality.ATTR_INVALID
            )
        finally:
            events.close()
        what, why = outcome(proxy, kept_attribute)
        assert what == "error"
        assert f"no BLISS process holds {kept} since " in why and "(last value 41.5)" in why
        wait_for(lambda: "1 channels not held by any BLISS process" in proxy.status())
        for value in (1.0, 2.0, 3.0):
            living.value = value
            wait_shown(proxy, other_attribute, value, "other values flowing")
        assert proxy.state() == DevState.ON

        # Nobody holds the value now: newcomer processes asking at once all start from their
        # default (None), not from what the device showed. (Ten: with nobody holding a value,
        # each waits for every other's answer, and n newcomers make n * n replies, each heard
        # by all of them; BLISS itself would wait the same way.)
        assert ask_together(redis_server.url, kept, 10) == [None] * 10


def ask_together(url: str, name: str, count: int) -> list[Any]:
    """What ``count`` newcomer processes, asking at once, read from channel ``name``."""
    queriers = Script(QUERIERS, url, name, str(count))
    try:
        assert json.loads(queriers.line(timeout=120)), "buses did not connect"
        queriers.send("go")
        return json.loads(queriers.line(timeout=90))
    finally:
        queriers.kill()


def test_100_newcomers_asking_at_once_all_get_the_bliss_holder_s_value(
    redis_server, make_peer, unique
):
    """The device takes part in every query, 100 at once, and keeps out of the way: each
    newcomer gets the living holder's value."""
    name = f"{unique}.held"
    holder = make_peer(redis_server.url)
    holder.call("open", name=name, value=41.5)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [f"{name} type=float"]}) as (
        proxy,
        _,
    ):
        attribute = proxy.AttributeName(name)
        assert shows(proxy, attribute, 41.5)
        assert ask_together(redis_server.url, name, NEWCOMERS) == [41.5] * NEWCOMERS
        assert shows(proxy, attribute, 41.5)
        assert proxy.state() == DevState.ON


FLOOD = """
import sys
from tango_channels import Bus

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
bus = Bus(url)
assert bus.wait_connected(20)
print("flooding", flush=True)
for value in range(1, count + 1):
    bus.publish(name, value)
print("done", flush=True)
bus.close()
"""
FLOOD_COUNT = 20_000


def test_a_flooded_channel_ends_on_its_last_value_and_others_are_served_meanwhile(
    redis_server, make_bus, unique
):
    flooded, calm = f"{unique}.flooded", f"{unique}.calm"
    bus = make_bus(redis_server.url)
    steady = Channel(calm, value=0.0, bus=bus)
    wait_held(redis_server, calm)
    lines = [f"{flooded} type=int", f"{calm} type=float"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        flooded_attribute, calm_attribute = proxy.AttributeName(flooded), proxy.AttributeName(calm)
        flood_events = Events(proxy, flooded_attribute)
        flood = Script(FLOOD, redis_server.url, flooded, str(FLOOD_COUNT))
        try:
            assert flood.line() == "flooding"
            changed_during_the_flood = 0
            for value in range(1, 1001):
                if not flood.running():
                    break
                steady.value = float(value)
                changed_during_the_flood += flood.running()
                wait_shown(proxy, calm_attribute, value, "the calm channel")
            assert flood.line(timeout=120) == "done"
            assert changed_during_the_flood >= 1
            flood_events.wait(flood_events.value_is(FLOOD_COUNT), timeout=60)
            wait_for(lambda: shows(proxy, flooded_attribute, FLOOD_COUNT), what="the last")
            assert proxy.state() == DevState.ON
        finally:
            flood.kill()
            flood_events.close()


STALLED = """
import json, sys, threading
import tango

access = sys.argv[1]
attributes = json.loads(sys.stdin.readline())
proxy = tango.DeviceProxy(access)
stalled, never = threading.Event(), threading.Event()

def on_event(event):
    if stalled.is_set():
        never.wait()  # stops reading: this client's event thread blocks for ever

for attribute in attributes:
    proxy.subscribe_event(attribute, tango.EventType.CHANGE_EVENT, on_event)
stalled.set()
print("subscribed", flush=True)
sys.stdin.readline()  # until the test ends
"""
STALLED_ATTRIBUTES = 1000
ROUNDS = 30


def test_a_client_that_stops_reading_1000_attributes_harms_no_other_client(
    redis_server, make_bus, unique
):
    names = [f"{unique}.c{i:04d}" for i in range(STALLED_ATTRIBUTES)]
    probe = f"{unique}.probe"
    bus = make_bus(redis_server.url)
    steady = Channel(probe, value=0.0, bus=bus)
    wait_held(redis_server, probe)
    lines = [f"{n} type=float" for n in names] + [f"{probe} type=float"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, access):
        attributes = [proxy.AttributeName(n) for n in names]
        probe_attribute = proxy.AttributeName(probe)
        stalled = Script(STALLED, access)
        probe_events = Events(proxy, probe_attribute)
        last_events = Events(proxy, attributes[-1])
        try:
            stalled.send(json.dumps(attributes))
            assert stalled.line(timeout=120) == "subscribed"
            # Thousands of events for a client that reads none of them.
            for round_ in range(1, ROUNDS + 1):
                for name in names:
                    bus.publish(name, float(round_))
                steady.value = float(round_)
            probe_events.wait(probe_events.value_is(float(ROUNDS)), timeout=60)
            last_events.wait(last_events.value_is(float(ROUNDS)), timeout=60)
            wait_for(lambda: shows(proxy, attributes[0], float(ROUNDS)), what="the last round")
            assert stalled.running()  # still subscribed, still not reading
            assert proxy.state() == DevState.ON
            assert f"Connected to Redis at {redis_server.url}" in proxy.status()
            steady.value = -1.0
            probe_events.wait(probe_events.value_is(-1.0))
        finally:
            stalled.kill()
            probe_events.close()
            last_events.close()


FIFTY = """
import json, sys, threading, time
import tango
sys.path.insert(0, "tests")
from support.tango_device import until_events_flow

access, attribute, count, expected = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
got = [threading.Event() for _ in range(count)]
together = threading.Barrier(count)
proxies = []

def client(index):
    proxy = tango.DeviceProxy(access)  # each client its own proxy
    proxies.append(proxy)

    def on_event(event):
        if not event.err and event.attr_value.value == expected:
            got[index].set()

    together.wait(timeout=60)
    proxy.subscribe_event(attribute, tango.EventType.CHANGE_EVENT, on_event)

# cppTango (10.x) creates a process's event consumer on its first subscription; first
# subscriptions racing in threads sometimes fail there ("Could not find event consumer for
# ptr"), a client-side matter. One subscription first, then the clients all at once.
warm_up = tango.DeviceProxy(access)
warm_up.subscribe_event("State", tango.EventType.CHANGE_EVENT, lambda event: None)
threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=60)
until_events_flow(warm_up)  # this process's 50 subscriptions are in place at the server
print("subscribed", flush=True)
sys.stdin.readline()
deadline = time.monotonic() + 30
print(json.dumps(sum(e.wait(max(0.0, deadline - time.monotonic())) for e in got)), flush=True)
"""


def test_50_clients_of_one_attribute_all_receive_its_change(redis_server, make_bus, unique):
    name = f"{unique}.shared"
    bus = make_bus(redis_server.url)
    holder = Channel(name, value=0.0, bus=bus)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [name]}) as (proxy, access):
        attribute = proxy.AttributeName(name)
        clients = [Script(FIFTY, access, attribute, "10", "123.25") for _ in range(5)]
        try:
            for client in clients:
                assert client.line(timeout=120) == "subscribed"
            holder.value = 123.25
            for client in clients:
                client.send("go")
            assert sum(json.loads(client.line()) for client in clients) == 50
        finally:
            for client in clients:
                client.kill()


# ------------------------------------------------------------------ 3. hostile, broken input
def pickle_bomb() -> list[Any]:
    """A list holding one list ten times, 30 levels deep: 10**30 items, a few hundred bytes."""
    bomb: list[Any] = [None]
    for _ in range(30):
        bomb = [bomb] * 10
    return bomb


def test_hostile_and_broken_messages_run_nothing_and_the_device_keeps_serving(
    redis_server, make_bus, unique, tmp_path
):
    target, other = f"{unique}.target", f"{unique}.other"
    bus = make_bus(redis_server.url)
    holder = Channel(target, value=1.0, bus=bus)
    steady = Channel(other, value=0.0, bus=bus)
    wait_held(redis_server, target, other)
    marker = tmp_path / "pwned"
    good = encode_value("4242", time.time(), 2.0).wire
    messages = {
        "os.system": encode_value("4242", time.time(), Call(os.system, f"touch {marker}")).wire,
        "garbage": random.Random(7).randbytes(300),
        "truncated": good[: len(good) // 2],
        "pickle bomb": encode_value("4242", time.time(), pickle_bomb()).wire,
    }
    assert len(messages["pickle bomb"]) < 2000
    lines = [f"{target} type=float", f"{other} type=float"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        target_attribute, other_attribute = proxy.AttributeName(target), proxy.AttributeName(other)
        events = Events(proxy, target_attribute)
        raw = redis.Redis.from_url(redis_server.url)
        try:
            for count, (what, data) in enumerate(messages.items(), start=1):
                assert raw.publish(target, data) >= 1, what
                error = events.wait(lambda e: e.err)
                assert "undecodable" in error.errors[0].desc, what
                with pytest.raises(tango.DevFailed, match="undecodable"):
                    proxy.read_attribute(target_attribute)
                steady.value = float(count)
                wait_shown(proxy, other_attribute, count, f"the other channel after {what}")
                holder.value = 10.0 + count
                events.wait(events.value_is(10.0 + count))
                assert shows(proxy, target_attribute, 10.0 + count), what
                assert proxy.state() == DevState.ON, what
            assert not marker.exists()
            wait_for(lambda: "Undecodable messages dropped: 4" in proxy.status())
        finally:
            raw.close()
            events.close()


HUNDRED_MB = 100 * 1024 * 1024


@pytest.mark.parametrize("pubsub_limit", ["32mb 8mb 60", "0 0 0"], ids=["default", "none"])
def test_a_100_mb_message_is_dropped_and_the_device_serves_on(
    own_redis, make_bus, unique, pubsub_limit
):
    own_redis.command("CONFIG", "SET", "client-output-buffer-limit", f"pubsub {pubsub_limit}")
    target, other = f"{unique}.target", f"{unique}.other"
    bus = make_bus(own_redis.url)
    holder = Channel(target, value=1.0, bus=bus)
    steady = Channel(other, value=0.0, bus=bus)
    wait_held(own_redis, target, other)
    huge = encode_value("4242", time.time(), b"x" * HUNDRED_MB).wire  # a well-formed value
    lines = [f"{target} type=float", f"{other} type=float"]
    with running_device({"RedisUrl": own_redis.url, "Channels": lines}) as (proxy, _):
        target_attribute, other_attribute = proxy.AttributeName(target), proxy.AttributeName(other)
        raw = redis.Redis.from_url(own_redis.url)
        try:
            raw.publish(target, huge)
            del huge
            for value in (1.0, 2.0, 3.0):
                steady.value = value
                wait_shown(proxy, other_attribute, value, "the other channel")
            holder.value = 4.0
            wait_shown(proxy, target_attribute, 4.0, "the target channel")
            assert proxy.state() == DevState.ON, proxy.status()
            # Redis cuts a subscriber sent that much (client-output-buffer-limit pubsub, 32 MB
            # by default): Status says it closed the connection, and the device reconnects.
            # Without that limit the message reaches the device, and is dropped as oversized.
            status = proxy.status()
            if pubsub_limit == "0 0 0":
                assert "Undecodable messages dropped: 1" in status, status
            else:
                assert "closed the connection" in status, status
        finally:
            raw.close()


def test_a_value_changing_type_every_message_never_changes_the_attribute_type(
    redis_server, make_bus, unique
):
    name = f"{unique}.fickle"
    bus = make_bus(redis_server.url)
    fickle = Channel(name, value=0.5, bus=bus)
    wait_held(redis_server, name)
    with running_device({"RedisUrl": redis_server.url, "Channels": [name]}) as (proxy, _):
        attribute = proxy.AttributeName(name)
        for step in range(1, 11):
            if step % 2:
                fickle.value = f"text {step}"
                wait_for(lambda: outcome(proxy, attribute)[0] == "error", what="an error")
                _, error = outcome(proxy, attribute)
                assert "expected a number, got str" in error
            else:
                fickle.value = float(step)
                wait_shown(proxy, attribute, float(step))
            config = proxy.get_attribute_config(attribute)
            assert (config.data_type, config.data_format) == (
                CmdArgType.DevDouble,
                AttrDataFormat.SCALAR,
            )
        assert proxy.state() == DevState.ON


def test_odd_channel_names_are_exposed_and_translate_both_ways(redis_server, make_bus, unique):
    prefix = unique[:20]
    odd = {
        f"{prefix} with spaces": 1.0,
        f"{prefix}.température.µm": 2.0,  # Latin-1, as PyTango sends strings
        f"{prefix}.κανάλι.✓": 3.0,  # beyond Latin-1: sent as UTF-8
        f"{prefix}.long." + "".join(chr(97 + i % 26) for i in range(1000 - len(prefix) - 6)): 4.0,
        f"{prefix}.text": "naïve ✓ κείμενο",  # a value beyond Latin-1
    }
    assert len(max(odd, key=len)) == 1000
    bus = make_bus(redis_server.url)
    held = [Channel(name, value=value, bus=bus) for name, value in odd.items()]
    wait_held(redis_server, *odd)
    lines = [f'"{name}"' for name in odd]  # quoted, as names with spaces must be
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        assert proxy.state() == DevState.ON, proxy.status()
        assert sorted(client_text(name) for name in proxy.ChannelNames) == sorted(odd)
        attributes = set()
        for name, value in odd.items():
            attribute = proxy.AttributeName(name.encode())  # UTF-8, as a client can send it
            if latin1(name):  # or as text, when PyTango can send it
                assert proxy.AttributeName(name) == attribute
            attributes.add(attribute)
            assert client_text(proxy.ChannelName(attribute)) == name
            read = proxy.read_attribute(attribute)
            assert read.quality == AttrQuality.ATTR_VALID
            assert (client_text(read.value) if isinstance(value, str) else read.value) == value
            assert proxy.get_attribute_config(attribute).label == name
        assert len(attributes) == len(odd)
        text = proxy.AttributeName(f"{prefix}.text")
        held[-1].value = "encore ✓"
        wait_for(lambda: client_text(proxy.read_attribute(text).value) == "encore ✓")

        # Added and removed at run time by name, as a client sends it.
        late = f"{prefix}.später.ω"
        held.append(Channel(late, value=5.0, bus=bus))
        wait_held(redis_server, late)
        assert [client_text(n) for n in proxy.AddChannel(late.encode())] == [late]
        assert shows(proxy, proxy.AttributeName(late.encode()), 5.0)
        assert len(proxy.RemoveChannel(late.encode())) == 1
        assert late not in [client_text(name) for name in proxy.ChannelNames]


def test_garbage_lines_fault_quoting_each_and_the_good_lines_work(redis_server, make_bus, unique):
    first, second = f"{unique}.first", f"{unique}.second"
    bus = make_bus(redis_server.url)
    held = [Channel(first, value=1.5, bus=bus), Channel(second, value=7, bus=bus)]
    wait_held(redis_server, first, second)
    lines = [
        first,
        "%$#@! &*( )_+ ~~",  # junk
        '"unbalanced quote type=float',
        "   ",  # a blank row: ignored, as documented
        '"" type=float',  # an empty channel name
        "type=float",  # options without a channel name
        f"{second} type=int",
        "}{ ][ <> type:float ;;",  # more junk
    ]
    bad = {2, 3, 5, 6, 8}
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        assert proxy.state() == DevState.FAULT
        status = proxy.status()
        for number, line in enumerate(lines, start=1):
            if number in bad:
                assert f"line {number}: " in status and f"'{line.strip()}'" in status, line
            else:
                assert f"line {number}: " not in status, line
        assert f"Connected to Redis at {redis_server.url}" in status
        assert sorted(proxy.ChannelNames) == [first, second]
        assert shows(proxy, proxy.AttributeName(first), 1.5)
        assert shows(proxy, proxy.AttributeName(second), 7)
        held[0].value = 2.5
        wait_for(lambda: shows(proxy, proxy.AttributeName(first), 2.5))


def test_wrong_writes_are_refused_and_the_device_stays_up(redis_server, make_bus, unique):
    scalar, array = f"{unique}.setpoint", f"{unique}.profile"
    bus = make_bus(redis_server.url)
    setpoint = Channel(scalar, value=0.5, bus=bus)
    profile = Channel(array, value=numpy.arange(3.0), bus=bus)
    wait_held(redis_server, scalar, array)
    lines = [f"{scalar} type=float access=rw", f"{array} type=spectrum:float64 access=rw"]
    with running_device({"RedisUrl": redis_server.url, "Channels": lines}) as (proxy, _):
        scalar_attribute, array_attribute = proxy.AttributeName(scalar), proxy.AttributeName(array)
        for wrong in ("fast", [1.0, 2.0], {"a": 1}, None):
            with pytest.raises((TypeError, tango.DevFailed)):
                proxy.write_attribute(scalar_attribute, wrong)
        for wrong in (["a", "b"], "fast", numpy.ones((2, 2))):
            with pytest.raises((TypeError, tango.DevFailed)):
                proxy.write_attribute(array_attribute, wrong)
        with pytest.raises(tango.DevFailed):
            proxy.write_attribute(array_attribute, numpy.zeros(MAX_SPECTRUM + 1))
        # Tango's default policy (CtrlSystem/WAttrNaNAllowed false) refuses NaN itself.
        with pytest.raises(tango.DevFailed, match="NaN"):
            proxy.write_attribute(scalar_attribute, math.nan)
        proxy.ping()
        assert proxy.state() == DevState.ON
        assert setpoint.value == 0.5 and numpy.array_equal(profile.value, numpy.arange(3.0))
        assert shows(proxy, scalar_attribute, 0.5)

        proxy.write_attribute(scalar_attribute, 1.25)
        proxy.write_attribute(array_attribute, numpy.array([1.5, 2.5]))
        wait_for(lambda: setpoint.held.value == 1.25, what="the value at the holder")
        wait_for(lambda: numpy.array_equal(profile.held.value, [1.5, 2.5]), what="the array")
        assert proxy.state() == DevState.ON


def test_nan_written_reaches_the_holder_where_tango_allows_it(redis_server, make_bus, unique):
    name = f"{unique}.setpoint"
    bus = make_bus(redis_server.url)
    setpoint = Channel(name, value=0.5, bus=bus)
    wait_held(redis_server, name)
    with running_device(
        {"RedisUrl": redis_server.url, "Channels": [f"{name} type=float access=rw"]},
        control_system={"WAttrNaNAllowed": "true"},
    ) as (proxy, _):
        attribute = proxy.AttributeName(name)
        proxy.write_attribute(attribute, math.nan)
        wait_for(lambda: math.isnan(setpoint.held.value), what="NaN at the holder")
        read = proxy.read_attribute(attribute)
        assert math.isnan(read.value) and read.quality == AttrQuality.ATTR_VALID
        proxy.write_attribute(attribute, 2.0)
        wait_for(lambda: setpoint.held.value == 2.0, what="a number again")
        assert proxy.state() == DevState.ON
