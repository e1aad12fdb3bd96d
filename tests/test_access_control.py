"""Tango's access control over a registered BeaconChannels: what a read-only user can do.

The real thing, once for the module: Debian's DataBaseds on MariaDB, Debian's
TangoAccessControl made its access control service, the device deployed with
``beacon-channels-deploy`` (so with its default ``AllowedAccessCmd``) and started by name, a
BLISS-like peer (channels held by this process) with a cache ``<obj>:initialized``. TAC's
tables hold what ``docs/access-control.md`` sets up (its SQL and Python blocks, run as
printed): every user read-only on every device, ``opid00`` write on ``id00/*/*`` from one
network. On top, as Astor's tool would leave them: ``nobody`` read-only on the device, and
root (this test's user, which deploys and runs the servers) write on everything. Clients run
as those OS users, each a process of its own (``support/access_control.py``).

Where MariaDB or the package can't be had the module skips, saying why; in CI (``CI`` set) that
is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import tango

from support import wait_for
from support.access_control import Refused, TangoClient, start_access_control
from support.redis_server import wait_subscribers
from support.tango_databases import start_databaseds
from support.tango_device import PROBE
from tango_channels import Bus, Channel
from tango_channels_device.access import DEFAULT_ALLOWED

BIN = Path(sys.executable).parent
DOCS = Path(__file__).parent.parent / "docs" / "access-control.md"
DEVICE = "id00/beacon/channels"  # the docs' device: the database is this module's own
READ_ONLY_USER, WRITE_USER = "nobody", "root"
LOOPBACK = {"ORBendPoint": "giop:tcp:127.0.0.1:"}
READ_ONLY = "API_ReadOnlyMode"


def unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"access control tests must run in CI: {why}")
    pytest.skip(why)


def docs_blocks(language: str) -> list[str]:
    """The fenced blocks of ``language`` in the access control page, as printed."""
    return re.findall(rf"^```{language}\n(.*?)^```$", DOCS.read_text(), re.M | re.S)


def grant_sql(user: str, device: str, rights: str) -> str:
    """What Astor's TAC tool writes for ``user``: any address, ``rights`` on ``device``."""
    return (
        "INSERT INTO access_address (user, address, netmask, updated) "
        f"VALUES ('{user}', '*.*.*.*', 'FF.FF.FF.FF', NOW());\n"
        "INSERT INTO access_device (user, device, rights, updated) "
        f"VALUES ('{user}', '{device}', '{rights}', NOW());\n"
    )


class Calls(list):
    """The values a channel's callback was called with. Registered itself: channels hold
    their callbacks weakly (as BLISS does), the facility holds these."""

    def __call__(self, value: object) -> None:
        self.append(value)


class Facility:
    """What the module runs: database, access control, device, the peer's channels."""

    def __init__(self, redis_url: str, tmp: Path, stack: contextlib.ExitStack) -> None:
        self.obj = f"tac{time.monotonic_ns() % 10**10}"
        self.cache_name = f"{self.obj}:initialized"
        self.setpoint_name = f"{self.obj}.setpoint"
        self.extra_name = f"{self.obj}.extra"
        self.redis_url, self.tmp, self.stack = redis_url, tmp, stack
        self.callbacks: dict[str, Calls] = {}
        self.lines = (  # the device's Channels: a BLISS cache, and a value clients may write
            f"{self.cache_name} type=bool default=false",
            f"{self.setpoint_name} type=float access=rw",
        )

    def start(self) -> None:
        """Everything started is stopped by the stack, whatever fails after."""
        if shutil.which("setpriv") is None:
            unavailable("setpriv (util-linux) missing: clients can't run as other users")
        try:
            pwd.getpwnam(READ_ONLY_USER)
        except KeyError:
            unavailable(f"no OS user {READ_ONLY_USER} to run a read-only client as")
        try:
            self.database = start_databaseds(extra_packages=("tango-accesscontrol",))
            self.stack.callback(self.database.stop)
            self.access = start_access_control(self.database)
            self.stack.callback(self.access.stop)
        except RuntimeError as exc:
            unavailable(str(exc))
        self.access.sql(grant_sql(WRITE_USER, "*/*/*", "write"))
        self.access.sql(grant_sql(READ_ONLY_USER, DEVICE, "read"))
        for block in docs_blocks("sql"):
            self.access.sql(block)
        self.docs_output = "".join(self.run_python(block) for block in docs_blocks("python"))

        self.bus = Bus(self.redis_url)
        self.stack.callback(self.bus.close)
        self.cache = self.hold(self.cache_name, True)
        self.setpoint = self.hold(self.setpoint_name, 1.0)
        self.extra = self.hold(self.extra_name, 7)
        self.deploy()
        self.server = subprocess.Popen(
            [str(BIN / "BeaconChannels"), "id00"],
            env={**self.database.env, **LOOPBACK},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.stack.callback(self.stop_server)

    def stop_server(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(timeout=30)

    def hold(self, name: str, value: object) -> Channel:
        """A channel this process holds, as a BLISS process does, its callback calls kept."""
        channel = Channel(name, value=value, bus=self.bus)
        channel.register_callback(self.callbacks.setdefault(name, Calls()))
        wait_subscribers(self.redis_url, name)
        return channel

    def deploy(self, classes: dict | None = None) -> None:
        """``beacon-channels-deploy apply`` of the device (and ``classes``, if given)."""
        device = {"properties": {"RedisUrl": [self.redis_url], "Channels": list(self.lines)}}
        config: dict = {
            "servers": {"BeaconChannels": {"id00": {"BeaconChannels": {DEVICE: device}}}}
        }
        if classes is not None:
            config["classes"] = classes
        path = self.tmp / "beacon.json"
        path.write_text(json.dumps(config))
        done = subprocess.run(
            [str(BIN / "beacon-channels-deploy"), "apply", str(path)],
            env=self.database.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr

    def run_python(self, code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=self.database.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def client(self, user: str) -> TangoClient:
        env = {"PATH": os.environ["PATH"], "TANGO_HOST": self.database.tango_host}
        return TangoClient(DEVICE, env, user=user)


@pytest.fixture(scope="module")
def facility(redis_server, tmp_path_factory):
    with contextlib.ExitStack() as stack:
        facility = Facility(redis_server.url, tmp_path_factory.mktemp("access-control"), stack)
        facility.start()
        writer = facility.client(WRITE_USER)
        try:  # the device is up and shows the peer's values
            wait_for(lambda: _ready(writer, facility.setpoint_name), timeout=60, what="device")
        finally:
            writer.close()
        yield facility


def subscribers(redis_url: str, name: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        ((_, count),) = client.pubsub_numsub(name)
        return int(count)
    finally:
        client.close()


def _ready(client: TangoClient, channel: str) -> bool:
    try:
        return client.call("read", attr=client.command("AttributeName", channel)) is not None
    except Refused:
        return False


@pytest.fixture
def read_only(facility):
    client = facility.client(READ_ONLY_USER)
    yield client
    client.close()


@pytest.fixture
def writer(facility):
    client = facility.client(WRITE_USER)
    yield client
    client.close()


def test_the_docs_setup_gives_what_the_docs_say(facility):
    """The page's blocks ran as printed (the fixture ran them); what they printed, asked of
    TangoAccessControl itself, is what the page shows."""
    shown = re.search(
        r"It prints what TAC now answers:\n\n```text\n(.*?)```", DOCS.read_text(), re.S
    )
    assert shown is not None, "the page no longer shows what its setup prints"
    assert facility.docs_output == shown.group(1)
    assert "opid00 160.103.30.17 write" in facility.docs_output  # the beamline's account
    db = tango.Database(*facility.database.tango_host.split(":"))
    services = list(db.get_property("CtrlSystem", "Services")["Services"])
    assert services == ["AccessControl/tango:sys/access_control/1"]
    allowed = db.get_class_property("BeaconChannels", "AllowedAccessCmd")["AllowedAccessCmd"]
    assert list(allowed) == list(DEFAULT_ALLOWED)  # beacon-channels-deploy's default


def event_of(kind: str, value: object):
    return lambda event: event["type"] == kind and event["value"] == value


def test_a_read_only_user_reads_subscribes_and_asks_names(facility, read_only, writer):
    assert read_only.call("whoami") == READ_ONLY_USER
    assert read_only.call("state") == "ON"
    setpoint = read_only.command("AttributeName", facility.setpoint_name)
    cache = read_only.command("AttributeName", facility.cache_name)
    assert read_only.command("ChannelName", setpoint) == facility.setpoint_name
    assert read_only.call("read", attr=cache) is True
    assert read_only.command("State") == "ON"
    assert facility.setpoint_name in read_only.call("label", attr=setpoint)
    assert read_only.call("property", name="Channels") == list(facility.lines)
    for kind in ("change", "archive"):
        read_only.call("subscribe", attr=setpoint, type=kind)
        read_only.wait_event(event_of(kind, facility.setpoint.value))
    read_only.until_events_flow(lambda: writer.call("touch", attr=PROBE))
    facility.setpoint.value = 2.5  # a BLISS process changes it: the read-only user sees it
    for kind in ("change", "archive"):
        read_only.wait_event(event_of(kind, 2.5))


def test_a_read_only_user_changes_nothing_bliss_sees(facility, read_only, writer):
    """Refused by Tango's client library before anything leaves the client: no BLISS process
    sees a thing. The same calls by a user with write access then go through (the control)."""
    setpoint = read_only.command("AttributeName", facility.setpoint_name)
    before = {name: list(calls) for name, calls in facility.callbacks.items()}
    values = (facility.cache.value, facility.setpoint.value)
    assert values[0] is True  # set by the peer, not yet cleared
    refused = {
        "ClearCache": lambda: read_only.command("ClearCache", [facility.obj]),
        "AddChannel": lambda: read_only.command("AddChannel", facility.extra_name),
        "RemoveChannel": lambda: read_only.command("RemoveChannel", facility.setpoint_name),
        "Init": lambda: read_only.command("Init"),
        "StopAxes": lambda: read_only.command("StopAxes", []),  # not allowed by default
        "a write": lambda: read_only.call("write", attr=setpoint, value=9.0),
    }
    for what, call in refused.items():
        with pytest.raises(Refused) as refusal:
            call()
        assert refusal.value.reason == READ_ONLY, what
        assert refusal.value.desc.endswith(f"on device {DEVICE} is not authorized"), what
    assert (facility.cache.value, facility.setpoint.value) == values
    assert subscribers(facility.redis_url, facility.extra_name) == 1  # the peer alone
    assert read_only.call("read", attr=setpoint) == facility.setpoint.value  # still answers

    # The control: the writer's calls arrive, after anything the read-only user's could have.
    assert writer.call("whoami") == WRITE_USER
    assert writer.command("ClearCache", [facility.obj]) == 1
    wait_for(lambda: facility.cache.value is False, what="the cache cleared")
    writer.call("write", attr=setpoint, value=9.0)
    wait_for(lambda: facility.setpoint.value == 9.0, what="the written setpoint")
    assert writer.command("AddChannel", facility.extra_name) == [facility.extra_name]
    wait_subscribers(facility.redis_url, facility.extra_name, count=2)  # the peer and the device
    assert facility.callbacks[facility.cache_name] == [*before[facility.cache_name], False]
    assert facility.callbacks[facility.setpoint_name] == [*before[facility.setpoint_name], 9.0]
    assert facility.callbacks[facility.extra_name] == before[facility.extra_name]
    assert writer.command("RemoveChannel", facility.extra_name) != []


def test_access_control_does_not_stop_a_read_only_user_configuring_attributes(
    facility, read_only, writer
):
    """Tango's documentation says it does; Tango's client library (cppTango 10.3) checks writes
    and commands, not set_attribute_config: labels, alarm limits, event criteria. The page
    says so. None of that reaches BLISS; every client of the device sees it."""
    setpoint = read_only.command("AttributeName", facility.setpoint_name)
    label = read_only.call("label", attr=setpoint)
    read_only.call("relabel", attr=setpoint, label="relabelled by nobody")
    try:
        assert writer.call("label", attr=setpoint) == "relabelled by nobody"
    finally:
        writer.call("relabel", attr=setpoint, label=label)


def test_stop_axes_is_allowed_to_read_only_users_once_the_file_says_so(facility, read_only):
    """As docs/access-control.md says: list it in the file's classes section, apply, and
    restart the clients: Tango's client library reads a class's list once per process."""
    read_only.command("AttributeName", facility.setpoint_name)  # reads the list: the default
    allowed = [*DEFAULT_ALLOWED, "StopAxes"]
    facility.deploy(classes={"BeaconChannels": {"properties": {"AllowedAccessCmd": allowed}}})
    try:
        with pytest.raises(Refused, match=READ_ONLY):  # a client that has read the list before
            read_only.command("StopAxes", [])
        restarted = facility.client(READ_ONLY_USER)
        try:
            assert restarted.command("StopAxes", []) == 0  # no axis moving: nothing to stop
            with pytest.raises(Refused, match=READ_ONLY):
                restarted.command("ClearCache", [])
        finally:
            restarted.close()
    finally:
        facility.deploy()  # back to the default
