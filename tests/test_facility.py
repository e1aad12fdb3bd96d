"""Facility deployment, on the Tango database software facilities run.

Each test that needs a database runs on Debian's DataBaseds (MariaDB) and on pytango-db's
PyDatabaseds: deploy a version-controlled file with ``beacon-channels-deploy`` (dsconfig
underneath, so ``json2tango`` and ``tango2json`` agree with it), BeaconAxis devices beside the
BeaconChannels one, the file ``discover`` writes, refuse a file the device could not use
without writing anything, start ``BeaconChannels <instance>`` by name as a facility
would, read and subscribe with DeviceProxy and Taurus, edit a property as Jive does and run
Init, and run one instance per beamline from one facility file under Tango's Starter. The
systemd unit needs none.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import tango
import taurus
import yaml
from taurus.core import TaurusEventType

from support import wait_for
from support.beacon_stub import BeaconStub
from support.redis_server import wait_subscribers
from support.tango_device import Events
from tango_channels import Channel
from tango_channels.transport.address import RedisAddress
from tango_channels_deploy.cli import CHANGES_PENDING
from tango_channels_deploy.config import SERVER
from tango_channels_device.access import DEFAULT_ALLOWED
from tango_channels_device.bridge.lines import parse_lines

BIN = Path(sys.executable).parent
DEPLOY = str(BIN / "beacon-channels-deploy")
JSON2TANGO, TANGO2JSON = str(BIN / "json2tango"), str(BIN / "tango2json")
HOST = socket.gethostname().split(".")[0].lower()  # the Starter's device is tango/admin/<host>
LOOPBACK = {"ORBendPoint": "giop:tcp:127.0.0.1:"}  # servers listen on loopback only
STARTER = "/usr/lib/tango/Starter"


@pytest.fixture
def instance() -> str:
    return f"t{time.monotonic_ns() % 10**10}"


@pytest.fixture
def holder(redis_server, make_bus):
    """Channels held by this process, as a BLISS session would hold them (on ``redis_server``
    unless another server is given)."""
    buses = {}
    held: list[Channel] = []

    def hold(name: str, value: object, server=redis_server) -> Channel:
        if server.url not in buses:
            buses[server.url] = make_bus(server.url)
        held.append(Channel(name, value=value, bus=buses[server.url]))
        wait_subscribers(server.url, name)
        return held[-1]

    return hold


def document(
    instance: str,
    redis_url: str,
    channels: list[str],
    attribute_properties: dict[str, dict[str, list[str]]] | None = None,
) -> dict:
    device = {"properties": {"RedisUrl": [redis_url], "Channels": channels}}
    if attribute_properties:
        device["attribute_properties"] = attribute_properties
    return {
        "servers": {
            "BeaconChannels": {instance: {"BeaconChannels": {f"{instance}/beacon/1": device}}}
        }
    }


def with_class(config: dict, allowed: tuple[str, ...] = DEFAULT_ALLOWED) -> dict:
    """``config`` with the class section that ``dump`` writes (``apply``'s default)."""
    return {**config, "classes": {SERVER: {"properties": {"AllowedAccessCmd": list(allowed)}}}}


def devices_of(config: dict, instance: str) -> dict:
    return config["servers"]["BeaconChannels"][instance]["BeaconChannels"]


def deploy(database, *args: str, tool: str = DEPLOY) -> subprocess.CompletedProcess[str]:
    """``beacon-channels-deploy`` (or a dsconfig ``tool``) on ``database`` (``None``: for
    commands that need none)."""
    env = database.env if database is not None else None
    return subprocess.run([tool, *args], env=env, capture_output=True, text=True, timeout=120)


def connect(name: str, timeout: float = 60) -> tango.DeviceProxy:
    deadline = time.monotonic() + timeout
    while True:
        try:
            proxy = tango.DeviceProxy(name)  # a new proxy per try: a failed one waits 1 s
            proxy.ping()
            return proxy
        except tango.DevFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_apply_is_idempotent_and_dump_gives_the_file_back(
    tango_database, redis_server, tmp_path, instance
):
    config = document(
        instance,
        redis_server.url,
        ["axis.roby.position type=float unit=mm"],
        {"axis_roby_position": {"format": ["%.3f"], "abs_change": ["0.001"]}},
    )
    path = tmp_path / "beacon.json"
    path.write_text(json.dumps(config))

    plan = deploy(tango_database, "apply", str(path), "--dry-run")
    assert plan.returncode == CHANGES_PENDING, plan.stderr
    assert f"+ Device: {instance}/beacon/1\n  Server: BeaconChannels/{instance}\n" in plan.stdout
    assert plan.stdout.rstrip().endswith("dry run: nothing written")
    dry_again = deploy(tango_database, "apply", str(path), "--dry-run")
    assert dry_again.returncode == CHANGES_PENDING  # nothing written

    first = deploy(tango_database, "apply", str(path))
    assert first.returncode == 0, first.stderr
    for summary in (  # dsconfig's summary of what it wrote
        "Add 1 devices to 1 servers.",
        "Add/change 2 device properties in 1 devices.",
        "Add/change 2 device attribute properties in 1 devices.",
    ):
        assert summary in first.stdout.splitlines()
    again = deploy(tango_database, "apply", str(path))
    assert again.returncode == 0 and again.stdout.strip() == "no changes"
    assert deploy(tango_database, "apply", str(path), "--dry-run").returncode == 0

    dumped = deploy(tango_database, "dump", instance)
    assert json.loads(dumped.stdout) == with_class(config)  # the default AllowedAccessCmd
    dump_file = tmp_path / "dumped.json"
    dump_file.write_text(dumped.stdout)
    assert deploy(tango_database, "apply", str(dump_file)).stdout.strip() == "no changes"

    as_yaml = tmp_path / "beacon.yaml"
    as_yaml.write_text(yaml.safe_dump(config))
    assert deploy(tango_database, "apply", str(as_yaml)).stdout.strip() == "no changes"

    devices_of(config, instance)[f"{instance}/beacon/1"]["properties"]["Channels"].append(
        "musst_1:last__md5"
    )
    path.write_text(json.dumps(config))
    changed = deploy(tango_database, "apply", str(path))
    assert "    = Channels\n" in changed.stdout and "+ musst_1:last__md5" in changed.stdout

    path.write_text('{"servers": {"Other": {}}}')
    wrong = deploy(tango_database, "apply", str(path))
    assert wrong.returncode == 1 and "'Other' is not 'BeaconChannels'" in wrong.stderr


def test_json2tango_and_apply_make_the_same_database(
    tango_database, redis_server, tmp_path, instance
):
    """A facility keeps using dsconfig's own tools on the same files, in either order (files
    that set the class's AllowedAccessCmd, which json2tango doesn't default)."""
    config = with_class(
        document(
            instance,
            redis_server.url,
            ["axis.*.state type=state"],
            {"axis_x_state": {"label": ["X"]}},
        )
    )
    devices_of(config, instance)[f"{instance}/beacon/2"] = {"properties": {"Channels": ["a.b"]}}
    path = tmp_path / "beacon.json"
    path.write_text(json.dumps(config))

    written = deploy(tango_database, str(path), "-w", tool=JSON2TANGO)
    assert written.returncode == 2, written.stderr  # json2tango's "configuration applied"
    same = deploy(tango_database, "apply", str(path), "--dry-run")
    assert same.returncode == 0 and same.stdout.strip() == "no changes", same.stdout
    ours = json.loads(deploy(tango_database, "dump", instance).stdout)
    theirs = json.loads(
        deploy(tango_database, "-c", f"server:BeaconChannels/{instance}", tool=TANGO2JSON).stdout
    )
    assert theirs.pop("tango_host") == tango_database.tango_host
    assert ours == theirs == config

    # The file describes the instance completely: a device left out of it goes, for both tools.
    del devices_of(config, instance)[f"{instance}/beacon/2"]
    devices_of(config, instance)[f"{instance}/beacon/1"]["properties"]["Channels"] = ["a.c"]
    path.write_text(json.dumps(config))
    applied = deploy(tango_database, "apply", str(path))
    assert applied.returncode == 0 and f"- Device: {instance}/beacon/2" in applied.stdout
    # json2tango sees no change to any device (its exit code may still say "changes": on
    # DataBaseds it plans the no-op delete_device_alias("") that deploy/database.py drops).
    unchanged = deploy(tango_database, str(path), "--json", tool=JSON2TANGO)
    assert json.loads(unchanged.stdout) == {"devices": {}, "classes": {}}, unchanged.stderr
    assert json.loads(deploy(tango_database, "dump", instance).stdout) == config


def test_beacon_axis_devices_apply_and_dump_back_the_same(
    tango_database, redis_server, tmp_path, instance
):
    """One instance hosts both classes: the channels device and a motor device per axis,
    named by the convention (``<beamline>/bliss/<axis>``) or given their ``Axis``. Each class
    gets its AllowedAccessCmd: BeaconAxis's default is none (no property), Stop and Abort the
    facility's choice."""
    config = document(instance, redis_server.url, ["musst_1:last__md5"])
    config["servers"]["BeaconChannels"][instance]["BeaconAxis"] = {
        f"{instance}/bliss/roby": {"properties": {"RedisUrl": [redis_server.url]}},
        f"{instance}/bliss/sample_x": {
            "properties": {"RedisUrl": [redis_server.url], "Axis": ["robz"]},
            "attribute_properties": {"Position": {"format": ["%.3f"]}},
        },
    }
    path = tmp_path / "beacon.json"
    path.write_text(json.dumps(config))

    plan = deploy(tango_database, "apply", str(path), "--dry-run")
    assert plan.returncode == CHANGES_PENDING, plan.stderr
    for device in ("beacon/1", "bliss/roby", "bliss/sample_x"):
        assert (
            f"+ Device: {instance}/{device}\n  Server: BeaconChannels/{instance}\n" in plan.stdout
        )
    applied = deploy(tango_database, "apply", str(path))
    assert applied.returncode == 0, applied.stderr
    db = tango.Database(*tango_database.tango_host.split(":"))
    assert db.get_device_info(f"{instance}/bliss/roby").class_name == "BeaconAxis"
    assert deploy(tango_database, "apply", str(path)).stdout.strip() == "no changes"

    dumped = json.loads(deploy(tango_database, "dump", instance).stdout)
    classes = with_class(config)["classes"]
    classes["BeaconAxis"] = {"properties": {"AllowedAccessCmd": []}}  # the default: none
    assert dumped == {**config, "classes": classes}
    dump_file = tmp_path / "dumped.json"
    dump_file.write_text(json.dumps(dumped))
    assert deploy(tango_database, "apply", str(dump_file)).stdout.strip() == "no changes"

    # The facility lets read-only clients stop axes; a file without a word on it takes that
    # back (as for BeaconChannels's class), leaving the other class alone.
    chosen = {
        **config,
        "classes": {"BeaconAxis": {"properties": {"AllowedAccessCmd": ["Stop", "Abort"]}}},
    }
    path.write_text(json.dumps(chosen))
    changed = deploy(tango_database, "apply", str(path))
    assert changed.returncode == 0 and "+ AllowedAccessCmd" in changed.stdout, changed.stdout
    assert list(db.get_class_property("BeaconAxis", "AllowedAccessCmd")["AllowedAccessCmd"]) == [
        "Stop",
        "Abort",
    ]
    assert deploy(tango_database, "apply", str(path)).stdout.strip() == "no changes"
    path.write_text(json.dumps(config))
    back = deploy(tango_database, "apply", str(path))
    assert back.returncode == 0 and "- AllowedAccessCmd" in back.stdout, back.stdout
    assert not db.get_class_property("BeaconAxis", "AllowedAccessCmd")["AllowedAccessCmd"]
    assert deploy(tango_database, "apply", str(path)).stdout.strip() == "no changes"

    # Two devices for one axis: refused, nothing written.
    config["servers"]["BeaconChannels"][instance]["BeaconAxis"][f"{instance}/bliss/y"] = {
        "properties": {"RedisUrl": [redis_server.url], "Axis": ["roby"]}
    }
    path.write_text(json.dumps(config))
    refused = deploy(tango_database, "apply", str(path))
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        f"beacon-channels-deploy: error: {path}: {instance}/bliss/y: axis 'roby' is served by "
        f"{instance}/bliss/roby already\n"
    )


def test_the_file_discover_writes_applies_and_dumps_back_the_same(
    tango_database, own_redis, holder, tmp_path, instance
):
    """``discover --dsconfig`` on a beamline's Redis (a held channel, an axis known by its
    settings hash), then the file through ``apply --dry-run``, ``apply`` and ``dump``."""
    holder("sample:target", 0.5, server=own_redis)
    redis.Redis.from_url(own_redis.url).hset("axis.roby", mapping={"position": "1.0"})
    path = tmp_path / "discovered.json"
    found = deploy(None, "discover", own_redis.url, "--dsconfig", str(path), "--beamline", instance)
    assert found.returncode == 0, found.stderr
    assert "sample:target  1          float  float: 0.5" in found.stdout

    plan = deploy(tango_database, "apply", str(path), "--dry-run")
    assert plan.returncode == CHANGES_PENDING, plan.stderr
    assert f"+ Device: {instance}/bliss/roby\n" in plan.stdout
    assert deploy(tango_database, "apply", str(path)).returncode == 0
    dumped = deploy(tango_database, "dump", instance)
    assert json.loads(dumped.stdout) == json.loads(path.read_text())


def test_apply_declares_what_read_only_clients_may_run(tango_database, tmp_path, instance):
    """The class property AllowedAccessCmd (see docs/access-control.md): the default when the
    file says nothing, the file's list when it gives one; the class's other properties (set
    from Jive, say) are left alone unless the file gives the class's properties."""
    db = tango.Database(*tango_database.tango_host.split(":"))
    db.put_class_property(SERVER, {"AllowedAccessCmd": ["ChannelName"], "Description": ["kept"]})
    path = tmp_path / "beacon.json"
    config = document(instance, "redis://localhost:6379/0", ["a.b"])
    path.write_text(json.dumps(config))

    first = deploy(tango_database, "apply", str(path))
    assert first.returncode == 0, first.stderr
    assert "= AllowedAccessCmd\n      + AttributeName\n        ChannelName\n" in first.stdout
    assert deploy(tango_database, "apply", str(path)).stdout.strip() == "no changes"
    stored = db.get_class_property(SERVER, ["AllowedAccessCmd", "Description"])
    assert list(stored["AllowedAccessCmd"]) == list(DEFAULT_ALLOWED)
    assert list(stored["Description"]) == ["kept"]

    # A file that gives the class's properties gives all of them, as for a device.
    stop_axes = with_class(config, (*DEFAULT_ALLOWED, "StopAxes"))
    path.write_text(json.dumps(stop_axes))
    changed = deploy(tango_database, "apply", str(path))
    assert changed.returncode == 0, changed.stderr
    assert "+ StopAxes" in changed.stdout and "- Description" in changed.stdout, changed.stdout
    assert deploy(tango_database, "apply", str(path)).stdout.strip() == "no changes"
    dumped = json.loads(deploy(tango_database, "dump", instance).stdout)
    assert dumped == stop_axes

    # A dump of a database without the property says so ([]): applied, it changes nothing.
    db.delete_class_property(SERVER, ["AllowedAccessCmd"])
    dump_file = tmp_path / "dumped.json"
    dump_file.write_text(deploy(tango_database, "dump", instance).stdout)
    assert json.loads(dump_file.read_text())["classes"] == {
        SERVER: {"properties": {"AllowedAccessCmd": []}}
    }
    assert deploy(tango_database, "apply", str(dump_file)).stdout.strip() == "no changes"
    path.write_text(json.dumps(config))  # back to the default, for the tests that follow
    assert deploy(tango_database, "apply", str(path)).returncode == 0


def test_a_file_the_device_could_not_use_writes_nothing(
    tango_database, redis_server, tmp_path, instance
):
    config = document(instance, redis_server.url, ["axis.roby.position"])  # a good device...
    devices_of(config, instance)[f"{instance}/beacon/2"] = {  # ...and one with three mistakes
        "properties": {
            "RedisUrl": ["redis://localhost:port/0"],
            "Channel": ["axis.roby.state"],
            "Channels": ["axis.roby.state type=flaot"],
        }
    }
    path = tmp_path / "beacon.json"
    path.write_text(json.dumps(config))

    refused = deploy(tango_database, "apply", str(path))
    assert refused.returncode == 1 and refused.stdout == ""
    with pytest.raises(ValueError) as bad_url:  # the device's own words for what is wrong
        RedisAddress.from_url("redis://localhost:port/0")
    (bad_line,) = parse_lines(["axis.roby.state type=flaot"])[1]
    device = f"{instance}/beacon/2"
    assert refused.stderr.splitlines() == [
        f"beacon-channels-deploy: error: {path}: {device}: {problem}"
        for problem in (
            f"RedisUrl: 'redis://localhost:port/0' is not a Redis URL: {bad_url.value}",
            "Channel is not a BeaconChannels property; did you mean Channels?",
            f"Channels: {bad_line}",
        )
    ]
    db = tango.Database(*tango_database.tango_host.split(":"))
    assert f"BeaconChannels/{instance}" not in db.get_server_list(f"BeaconChannels/{instance}")
    assert deploy(tango_database, "dump", instance).returncode == 1  # no such instance


def test_a_deployed_server_runs_by_name_and_follows_edits(
    tango_database, redis_server, holder, tmp_path, instance
):
    position = holder(f"{instance}.roby.position", 1.0)
    holder(f"{instance}.roby.velocity", 2.5)
    path = tmp_path / "beacon.json"
    attribute = f"{instance}_roby_position"
    path.write_text(
        json.dumps(
            document(
                instance,
                redis_server.url,
                [f"{instance}.roby.position unit=mm"],
                {attribute: {"format": ["%.2f"]}},
            )
        )
    )
    assert deploy(tango_database, "apply", str(path)).returncode == 0
    server = subprocess.Popen(
        [str(BIN / "BeaconChannels"), instance],
        env={**tango_database.env, **LOOPBACK},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        device = f"tango://{tango_database.tango_host}/{instance}/beacon/1"
        proxy = connect(device)
        assert proxy.state() == tango.DevState.ON, proxy.status()
        config = proxy.get_attribute_config(attribute)
        assert (config.unit, config.format) == ("mm", "%.2f")  # line and database properties
        assert proxy.read_attribute(attribute).value == 1.0

        events = Events(proxy, attribute)
        received: list[float] = []

        def listener(source, kind, value) -> None:
            if kind == TaurusEventType.Change and value is not None:
                received.append(value.rvalue.magnitude)

        gui = taurus.Attribute(f"{device}/{attribute}")
        gui.addListener(listener)
        try:
            position.value = 2.0
            events.wait(events.value_is(2.0))
            wait_for(lambda: 2.0 in received, what="the Taurus listener")
            assert gui.isUsingEvents() and not gui.isPollingActive()
        finally:
            gui.removeListener(listener)
            events.close()

        # Edit the Channels property as Jive does, then Init: the new line takes effect.
        db = tango.Database(*tango_database.tango_host.split(":"))
        lines = list(db.get_device_property(f"{instance}/beacon/1", "Channels")["Channels"])
        db.put_device_property(
            f"{instance}/beacon/1", {"Channels": [*lines, f"{instance}.roby.velocity"]}
        )
        proxy.Init()
        velocity = proxy.AttributeName(f"{instance}.roby.velocity")
        assert proxy.read_attribute(velocity).value == 2.5
        # The file is the reference: applying it again would take the edit back, but not the
        # polling set from Jive, which is Tango's (dsconfig's protected properties).
        db.put_device_property(f"{instance}/beacon/1", {"polled_attr": ["state", "3000"]})
        plan = deploy(tango_database, "apply", str(path), "--dry-run")
        assert plan.returncode == CHANGES_PENDING
        assert f"- {instance}.roby.velocity" in plan.stdout
        assert "polled_attr" not in plan.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def starter(tango_database, tmp_path):
    """Tango's Starter for this host, on this database; stopped (with what it started) after."""
    if not Path(STARTER).exists():
        pytest.fail(f"{STARTER} missing: the test setup installs Debian's tango-starter")
    db = tango.Database(*tango_database.tango_host.split(":"))
    info = tango.DbDevInfo()
    info.name, info._class, info.server = f"tango/admin/{HOST}", "Starter", f"Starter/{HOST}"
    db.add_server(info.server, [info])
    logs = tmp_path / "starter-logs"
    logs.mkdir()  # the Starter creates its log directory, but not its parents
    db.put_device_property(
        info.name,
        {"StartDsPath": [], "LogFileHome": [str(logs)], "StartServersAtStartup": ["false"]},
    )
    process = subprocess.Popen(
        [STARTER, HOST],
        env={**tango_database.env, **LOOPBACK},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started: list[str] = []
    try:
        yield connect(f"tango://{tango_database.tango_host}/{info.name}", timeout=60), started
    finally:
        process.terminate()
        process.wait(timeout=30)
        for instance in started:  # its servers outlive it
            stop_server(db, instance)


def running(pid: int) -> bool:
    """Whether ``pid`` runs: neither gone nor a zombie (which a container's init may never
    reap, once the Starter that started it has been stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # the state, after "pid (command)"


def stop_server(db: tango.Database, instance: str, timeout: float = 30) -> None:
    """Stop ``BeaconChannels <instance>`` if it still runs, as the Starter does (its admin
    device's Kill: a server the Starter started may not take SIGTERM), killed if need be."""
    try:
        info = db.get_device_info(f"dserver/{SERVER}/{instance}")
        argv = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0") if info.pid > 0 else []
    except (tango.DevFailed, OSError):  # never exported, or gone
        return
    if instance.encode() not in argv:  # gone, and its PID now another process's
        return
    try:
        tango.DeviceProxy(f"tango://{db.get_db_host()}:{db.get_db_port()}/{info.name}").Kill()
    except tango.DevFailed:
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running(info.pid):  # not our child: no wait(); init reaps it, or leaves a zombie
        if time.monotonic() > deadline:
            os.kill(info.pid, signal.SIGKILL)
            break
        time.sleep(0.1)


def test_one_facility_file_runs_an_instance_per_beamline_under_the_starter(
    tango_database, redis_server, own_redis, holder, starter, tmp_path, instance
):
    """The way to scale out: one server instance per beamline, each with its own Redis (here
    one named by URL, one found through its Beacon), all in one file and one database."""
    proxy_of_starter, started = starter
    beamlines = {f"{instance}a": "OPEN", f"{instance}b": "CLOSED"}
    names = list(beamlines)
    shutter = f"{instance}.shutter"  # the same channel name on both beamlines' Redis servers
    holder(shutter, beamlines[names[0]], server=own_redis)
    holder(shutter, beamlines[names[1]], server=redis_server)
    beacon = BeaconStub(f"127.0.0.1:{redis_server.port}")
    facility = {
        "servers": {
            "BeaconChannels": {
                names[0]: {
                    "BeaconChannels": {
                        f"{names[0]}/beacon/1": {
                            "properties": {"RedisUrl": [own_redis.url], "Channels": [shutter]}
                        }
                    }
                },
                names[1]: {
                    "BeaconChannels": {
                        f"{names[1]}/beacon/1": {
                            "properties": {
                                "BeaconHost": [f"127.0.0.1:{beacon.port}"],
                                "Channels": [shutter],
                            }
                        }
                    }
                },
            }
        }
    }
    path = tmp_path / "facility.json"
    path.write_text(json.dumps(facility))
    try:
        assert deploy(tango_database, "apply", str(path)).returncode == 0
        launchers = tmp_path / "start-ds-path"
        assert deploy(tango_database, "launcher", str(launchers)).returncode == 0
        controlled = deploy(
            tango_database,
            "starter",
            *names,
            "--host",
            HOST,
            "--level",
            "2",
            "--start-ds-path",
            str(launchers),
        )
        assert controlled.returncode == 0, controlled.stderr
        proxy_of_starter.Init()  # the Starter re-reads StartDsPath
        db = tango.Database(*tango_database.tango_host.split(":"))
        for name in names:
            server_info = db.get_server_info(f"BeaconChannels/{name}")
            assert (server_info.host, server_info.mode, server_info.level) == (HOST, 1, 2)

        for name in names:
            started.append(name)
            proxy_of_starter.DevStart(f"BeaconChannels/{name}")
        for name, value in beamlines.items():  # each device reads its own beamline's Redis
            device = connect(f"tango://{tango_database.tango_host}/{name}/beacon/1")
            assert device.read_attribute(device.AttributeName(shutter)).value == value

        # The Starter counts a server as its own once it has run on its host: refresh its list
        # (Astor does the same after registering a server).
        proxy_of_starter.UpdateServersInfo()
        wait_for(
            lambda: (
                {f"BeaconChannels/{n}" for n in names}
                <= set(proxy_of_starter.DevGetRunningServers(True))
            ),
            timeout=30,
            what="the Starter to list the servers",
        )
        proxy_of_starter.DevStop(f"BeaconChannels/{names[0]}")
        wait_for(
            lambda: f"BeaconChannels/{names[0]}" in proxy_of_starter.DevGetStopServers(True),
            timeout=30,
            what="the Starter to see the server stopped",
        )
        with pytest.raises(tango.DevFailed):
            tango.DeviceProxy(f"tango://{tango_database.tango_host}/{names[0]}/beacon/1").ping()
        other = connect(f"tango://{tango_database.tango_host}/{names[1]}/beacon/1")
        assert other.state() == tango.DevState.ON  # the other beamline's server runs on
    finally:
        beacon.close()


def test_the_systemd_unit_runs_this_venv_s_server(tmp_path):
    done = deploy(None, "systemd-unit", "--user", "blissadm")  # no database involved
    assert done.returncode == 0, done.stderr
    unit = done.stdout
    assert f"ExecStart={BIN / 'BeaconChannels'} %i" in unit.splitlines()
    assert "User=blissadm" in unit and "Restart=always" in unit
    assert "EnvironmentFile=-/etc/beacon-channels/%i.env" in unit
    verify = shutil.which("systemd-analyze")
    if verify:  # where systemd's tools are installed, check the unit's syntax too
        path = tmp_path / "beacon-channels@.service"
        path.write_text(unit)
        done = subprocess.run(
            [verify, "verify", "--man=no", str(path)], capture_output=True, text=True, check=False
        )
        assert "Unknown" not in done.stderr and "Invalid" not in done.stderr, done.stderr
