"""``beacon-channels-deploy discover``: what BLISS 2.4 sessions publish, found as a BLISS
process finds it, shown as a table, and written as a deployment file the checks take.

The sessions are real BLISS 2.4 processes (tests/support/peer.py) on a Redis of the test's own
(so that nothing another test left there shows up); an axis known only by its settings hash is
written with HSET, as BLISS leaves it when no session runs. Whatever crosses Redis during a
discovery is recorded (a pattern subscription, which no NUMSUB counts): that BLISS sees only
queries, no value, and nothing on its event channels.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
import redis

from support.beacon_stub import BeaconStub
from support.redis_server import free_port, wait_subscribers
from tango_channels import Channel
from tango_channels.transport.address import RedisAddress
from tango_channels.wire.decode import DecodeError, decode
from tango_channels.wire.encode import encode_reply, encode_value
from tango_channels.wire.messages import Query, Reply
from tango_channels.wire.opaque import opaque_class
from tango_channels_deploy import discover
from tango_channels_deploy.cli import ERROR, OK, main
from tango_channels_deploy.config import load
from tango_channels_deploy.discover import (
    Discovery,
    FoundAxis,
    FoundChannel,
    starter_document,
    table,
)
from tango_channels_deploy.validate import problems

AXIS = {
    "sign": 1,
    "offset": 0.0,
    "backlash": 0.0,
    "low_limit": -10.0,
    "high_limit": 10.0,
    "velocity": 2.0,
    "acceleration": 10.0,
    "steps_per_unit": 100.0,
    "dial_position": 1.25,
    "_set_position": 1.25,
    "position": 1.25,
    "state": {"__axisstate__": ["READY"]},
}


def rows(out: str) -> dict[str, list[str]]:
    """The table's rows by their first cell (cells are apart by two spaces or more)."""
    return {
        cells[0]: cells
        for line in out.splitlines()
        if len(cells := re.split(r"\s{2,}", line.strip())) > 1
    }


class Recorder:
    """Every message published on the server while it runs, decoded (a pattern subscription:
    PUBSUB NUMSUB doesn't count it)."""

    def __init__(self, url: str) -> None:
        self.messages: list[tuple[str, object]] = []
        self._pubsub = redis.Redis.from_url(url).pubsub()
        self._pubsub.psubscribe("*")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.05)
            if message and message["type"] == "pmessage":
                try:
                    decoded: object = decode(message["data"])
                except DecodeError as exc:
                    decoded = exc
                self.messages.append((message["channel"].decode(), decoded))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()


def test_discover_lists_what_bliss_sessions_publish_and_writes_a_file_the_checks_take(
    own_redis, make_peer, bliss_python, tmp_path, capsys
):
    session = make_peer(own_redis.url, impl="bliss", python=bliss_python)
    session.call("axis", name="roby", values=AXIS)  # axis.roby.* and the hash axis.roby
    session.call("open", name="safshut:state", value={"__shutter__": "OPEN"})
    session.call("open", name="sample:target", value=0.5)
    session.call("open", name="transfocator: tf1", value=[1, 0, 1])
    session.call(
        "open", name="lima:roi", value={"__ndarray__": {"dtype": "uint16", "data": [[1, 2]]}}
    )
    session.call("open", name="config.roby", event=True)  # as BLISS's motor_config
    session.call("watch", name="config.roby")
    other = make_peer(own_redis.url, impl="bliss", python=bliss_python)
    other.call("open", name="sample:target")
    assert other.call("get", name="sample:target")["value"] == 0.5
    redis.Redis.from_url(own_redis.url).hset(
        "axis.robz", mapping={"position": "3.0", "velocity": "None"}
    )  # an axis no session runs now: only its hash
    wait_subscribers(own_redis.url, "sample:target", 2)

    recorder = Recorder(own_redis.url)
    path = tmp_path / "id00.json"
    try:
        code = main(["discover", own_redis.url, "--dsconfig", str(path), "--beamline", "id00"])
    finally:
        recorder.close()
    out, err = capsys.readouterr()
    assert (code, err) == (OK, "")

    found = rows(out)
    assert found["CHANNEL"] == ["CHANNEL", "PROCESSES", "TYPE=", "VALUE"]
    assert found["axis.roby.position"] == ["axis.roby.position", "1", "float", "float: 1.25"]
    assert found["axis.roby.state"][1:] == ["1", "str", "bliss.common.axis.state.AxisState: READY"]
    assert found["axis.roby.sign"][1:] == ["1", "int", "int: 1"]
    assert found["safshut:state"][1:] == [
        "1",
        "str",
        "bliss.common.base_shutter.BaseShutterState: 'Open'",
    ]
    assert found["sample:target"][1:] == ["2", "float", "float: 0.5"]  # two sessions hold it
    assert found["transfocator: tf1"][1:] == ["1", "spectrum:int64", "list: [1, 0, 1]"]
    assert found["lima:roi"][1:3] == ["1", "image:uint16"]
    assert found["config.roby"][1:] == ["1", "-", "an event channel (not asked)"]
    assert found["AXIS"] == ["AXIS", "SETTINGS HASH", "LIVE CHANNELS"]
    assert found["roby"][:2] == ["roby", "yes"] and int(found["roby"][2]) >= 15
    assert found["robz"] == ["robz", "yes", "0"]
    assert out.startswith(f"Redis at {own_redis.url}: ")

    # BLISS saw queries and the answers to them: no value set, nothing on its event channel.
    assert recorder.messages, "nothing recorded"
    assert {type(decoded) for _, decoded in recorder.messages} == {Query, Reply}
    assert "config.roby" not in {channel for channel, _ in recorder.messages}
    assert session.call("get", name="sample:target")["value"] == 0.5
    other.call("post_new", name="config.roby", values=["changed"])
    assert session.wait_event(lambda e: e["name"] == "config.roby")["value"] == ["changed"]
    # ...and this command holds nothing any more.
    client = redis.Redis.from_url(own_redis.url)
    assert dict(client.pubsub_numsub("sample:target", "axis.roby.position")) == {
        b"sample:target": 2,
        b"axis.roby.position": 1,
    }

    document = load(path)
    assert problems(document) == []
    instance = document["servers"]["BeaconChannels"]["id00"]
    channels = instance["BeaconChannels"]["id00/beacon/channels"]["properties"]
    assert channels["RedisUrl"] == [own_redis.url]
    assert channels["Axes"] == ["roby", "robz"]
    assert channels["Channels"] == [  # not those the Axes lines show, nor the event channel
        "axis.roby.velocity_high_limit",  # BLISS settings the Axes lines don't show, None here
        "axis.roby.velocity_low_limit",
        "lima:roi type=image:uint16",
        "safshut:state type=str",
        "sample:target type=float",
        "'transfocator: tf1' type=spectrum:int64",  # quoted as the device's parser splits
    ]
    assert instance["BeaconAxis"] == {
        "id00/bliss/roby": {"properties": {"RedisUrl": [own_redis.url]}},
        "id00/bliss/robz": {"properties": {"RedisUrl": [own_redis.url]}},
    }
    assert document["classes"]["BeaconAxis"] == {"properties": {"AllowedAccessCmd": []}}


class HostileHolder:
    """A process holding ``name`` that answers every query with a value whose pickle calls
    ``os.system``: what ``pickle.loads`` would run."""

    def __init__(self, url: str, name: str, command: str) -> None:
        self.client = redis.Redis.from_url(url)
        self._pubsub = self.client.pubsub()
        self._pubsub.subscribe(name)
        self._value = opaque_class("os", "system")(command)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(name,), daemon=True)
        self._thread.start()

    def _run(self, name: str) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.05)
            if message and message["type"] == "message":
                try:
                    query = decode(message["data"])
                except DecodeError:  # its own answer, back
                    continue
                if isinstance(query, Query):
                    held = encode_value("666", time.time(), self._value)
                    self.client.publish(name, encode_reply(name, query.id, held))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()


def test_a_value_that_would_run_code_is_refused_and_said_so(own_redis, tmp_path, capsys):
    marker = tmp_path / "ran"
    holder = HostileHolder(own_redis.url, "hostile:value", f"touch {marker}")
    try:
        wait_subscribers(own_redis.url, "hostile:value")
        code = main(
            [
                "discover",
                own_redis.url,
                "--dsconfig",
                str(tmp_path / "f.json"),
                "--beamline",
                "id00",
            ]
        )
    finally:
        holder.close()
    out, _ = capsys.readouterr()
    assert code == OK
    assert rows(out)["hostile:value"][1:] == [
        "1",
        "-",
        "undecodable: refused global os.system",
    ]
    assert not marker.exists()
    channels = load(tmp_path / "f.json")["servers"]["BeaconChannels"]["id00"]["BeaconChannels"]
    assert channels["id00/beacon/channels"]["properties"]["Channels"] == ["hostile:value"]


def test_discover_asks_beacon_where_redis_is_and_the_file_says_beacon_host(
    own_redis, make_bus, tmp_path, capsys
):
    """As BLISS finds its Redis; the file then names the Beacon (Redis's address may change,
    Beacon's doesn't), here in YAML."""
    held = Channel("sample:target", value=0.5, bus=make_bus(own_redis.url))  # noqa: F841
    wait_subscribers(own_redis.url, "sample:target")
    beacon = BeaconStub(f"127.0.0.1:{own_redis.port}")
    path = tmp_path / "id00.yaml"
    try:
        where = f"127.0.0.1:{beacon.port}"
        code = main(["discover", where, "--dsconfig", str(path), "--beamline", "id00"])
    finally:
        beacon.close()
    out, err = capsys.readouterr()
    assert (code, err) == (OK, "")
    assert out.startswith(f"Redis at redis://127.0.0.1:{own_redis.port}/0: 1 live channels, 0 axes")
    assert "No axis: no axis.<name> settings hash, no axis.<name>.* channel." in out
    document = load(path)
    assert problems(document) == []
    assert document["servers"]["BeaconChannels"]["id00"] == {
        "BeaconChannels": {
            "id00/beacon/channels": {
                "properties": {"BeaconHost": [where], "Channels": ["sample:target type=float"]}
            }
        }
    }
    assert list(document["classes"]) == ["BeaconChannels"]  # no BeaconAxis device: no class


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("redis://127.0.0.1:{port}/0", "Redis at redis://127.0.0.1:{port}/0 unreachable"),
        ("127.0.0.1:{port}", "Beacon at 127.0.0.1:{port} unreachable"),
        ("http://x", "http://x: unsupported Redis URL scheme 'http' in 'http://x'"),
        ("beacon-host", "beacon-host: 'beacon-host' is not host:port"),
    ],
    ids=["Redis", "Beacon", "not a Redis URL", "not host:port"],
)
def test_nothing_to_discover_is_one_line_and_exit_1(capsys, where, said):
    port = free_port()
    code = main(["discover", where.format(port=port), "--timeout", "0.5"])
    out, err = capsys.readouterr()
    assert (code, out) == (ERROR, "")
    assert err.startswith(f"beacon-channels-deploy: error: {said.format(port=port)}")
    assert err.count("\n") == 1


def test_a_file_needs_a_beamline_to_name_its_devices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["discover", "beacon-host:25000", "--dsconfig", "x.json"])
    assert exit_.value.code == 2  # argparse's usage error
    assert "discover --dsconfig needs --beamline" in capsys.readouterr().err
    for wrong in ("id 00", "id00/x", ""):
        with pytest.raises(SystemExit):
            main(["discover", "beacon-host:25000", "--dsconfig", "x.json", "--beamline", wrong])


# ------------------------------------------------------------------ what is found, shown
def found(channels=(), axes=()) -> Discovery:
    return Discovery(RedisAddress(host="redis-host"), tuple(channels), tuple(axes))


def test_names_the_file_can_t_hold_are_left_out_and_said_so():
    """An axis name BLISS would refuse (a hash key anyone can write), a channel name that reads
    as an option; an axis name that is no Tango device name member gets a device named after
    it and its Axis property."""
    discovery = found(
        [
            FoundChannel("type=float", 1, "float", "float: 1.0"),
            FoundChannel("axis.m+1.position", 1, "float", "float: 1.0"),
            FoundChannel("axis.m+1.custom", 1, "int", "int: 3"),  # a controller's own setting
        ],
        [FoundAxis("m+1", True, 2), FoundAxis("bad axis", True, 0)],
    )
    document, left_out = starter_document(discovery, "id00", ("BeaconHost", "beacon:25000"))
    assert left_out == [
        "axis 'bad axis': not a BLISS axis name (it has a space)",
        "channel 'type=float': the channel name is missing (the line starts with an option) "
        "in 'type=float type=float'",
    ]
    instance = document["servers"]["BeaconChannels"]["id00"]
    assert instance["BeaconAxis"] == {
        "id00/bliss/m_1": {"properties": {"BeaconHost": ["beacon:25000"], "Axis": ["m+1"]}}
    }
    properties = instance["BeaconChannels"]["id00/beacon/channels"]["properties"]
    assert properties["Axes"] == ["m+1"]
    assert properties["Channels"] == ["axis.m+1.custom type=int"]
    assert problems(document) == []


def test_the_table_shows_names_from_the_wire_without_their_control_characters():
    text = table(found([FoundChannel("evil\x1b[2Jname", 1, "str", "str: 'x'")]))
    assert "\x1b" not in text and "evil\\x1b[2Jname" in text
    assert table(found()).splitlines() == [
        "Redis at redis://redis-host:6379/0: 0 live channels, 0 axes",
        "",
        "No live channel: no BLISS session holds any now.",
        "",
        "No axis: no axis.<name> settings hash, no axis.<name>.* channel.",
    ]


def test_a_file_with_redis_s_password_says_where_it_ends_up(tmp_path, monkeypatch, capsys):
    """The password goes in the file as given, and on into the Tango database, where every
    client reads it: the command says so."""
    monkeypatch.setattr(discover, "discover", lambda address, timeout: Discovery(address, (), ()))
    path = tmp_path / "f.json"
    where = "redis://:secret@redis-host:6379/0"
    assert main(["discover", where, "--dsconfig", str(path), "--beamline", "id00"]) == OK
    out, err = capsys.readouterr()
    assert "secret" not in out  # the table names the server without it
    assert err == (
        f"beacon-channels-deploy: warning: {path}: RedisUrl holds Redis's password, which "
        "every client of the Tango database can read; consider REDIS_URL in the server's "
        "environment instead (docs/deployment.md#systemd)\n"
    )
    properties = load(path)["servers"]["BeaconChannels"]["id00"]["BeaconChannels"]
    assert properties["id00/beacon/channels"]["properties"]["RedisUrl"] == [where]
