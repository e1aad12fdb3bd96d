"""Devices the file describes wrongly: ``beacon-channels-deploy apply`` names each problem (the
device, the property, the line) on a line of its own and exits 1, before it even opens the
database. What counts as wrong is what the device itself would refuse or ignore.

``TANGO_HOST`` names a port where nothing listens: a file that got past the checks would fail
with "unreachable" instead. That nothing is written to a real database is checked in
``test_facility.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tango.utils import is_bool, is_numerical

from support.redis_server import free_port
from tango_channels_deploy.cli import ERROR, main
from tango_channels_deploy.config import parse, with_default_access
from tango_channels_deploy.validate import (
    TANGO_DEVICE_PROPERTIES,
    class_commands,
    class_properties,
    problems,
)
from tango_channels_device.access import (
    AXIS_RULES,
    DEFAULT_ALLOWED,
    FACILITY_CHOICE,
    NEVER_ALLOWED,
    never_allowed,
)
from tango_channels_device.beacon_axis import BeaconAxis
from tango_channels_device.bridge.lines import parse_lines

DEVICE = "id00/beacon/1"
CLASS = "class BeaconChannels"


def document(
    properties: dict, attribute_properties: dict | None = None, allowed: list | None = None
) -> dict:
    device: dict = {"properties": properties}
    if attribute_properties is not None:
        device["attribute_properties"] = attribute_properties
    config: dict = {"servers": {"BeaconChannels": {"id00": {"BeaconChannels": {DEVICE: device}}}}}
    if allowed is not None:
        config["classes"] = {"BeaconChannels": {"properties": {"AllowedAccessCmd": allowed}}}
    return config


@pytest.fixture
def apply(tmp_path, capsys, monkeypatch):
    """``apply`` of a document: (exit code, stdout, the lines of stderr about ``where``)."""
    monkeypatch.setenv("TANGO_HOST", f"127.0.0.1:{free_port()}")
    path = tmp_path / "beacon.json"

    def run(config: dict, where: str = DEVICE) -> tuple[int, str, list[str]]:
        path.write_text(json.dumps(config))
        code = main(["apply", str(path)])
        out, err = capsys.readouterr()
        prefix = f"beacon-channels-deploy: error: {path}: {where}: "
        assert all(line.startswith(prefix) for line in err.splitlines()), err
        return code, out, [line.removeprefix(prefix) for line in err.splitlines()]

    return run


BAD_LINE = "axis.roby.position type=flaot"


@pytest.mark.parametrize(
    ("properties", "attribute_properties", "said"),
    [
        pytest.param(
            {"Channels": ["axis.roby.state", BAD_LINE]},
            None,
            f"Channels: {parse_lines(['', BAD_LINE])[1][0]}",  # the device's words, line 2
            id="bad Channels line",
        ),
        pytest.param(
            {"RedisURL": ["redis://redis-host:6379/0"]},
            None,
            "RedisURL is not a BeaconChannels property; did you mean RedisUrl?",
            id="property in the wrong case",
        ),
        pytest.param(
            {"Channel": ["axis.roby.state"]},
            None,
            "Channel is not a BeaconChannels property; did you mean Channels?",
            id="misspelt property",
        ),
        pytest.param(
            {"Rubbish": ["x"]},
            None,
            "Rubbish is not a BeaconChannels property",
            id="unknown property, nothing close",
        ),
        pytest.param(
            {"RedisUrl": ["http://redis-host:6379"]},
            None,
            "RedisUrl: 'http://redis-host:6379' is not a Redis URL: unsupported Redis URL "
            "scheme 'http' in 'http://redis-host:6379'",
            id="bad RedisUrl",
        ),
        pytest.param(
            {"RedisUrl": ["redis://a:6379/0", "redis://b:6379/0"]},
            None,
            "RedisUrl: takes one value, the file gives 2",
            id="two RedisUrl values",
        ),
        pytest.param(
            {"Axes": ["roby unit=mm", "axis.robz"]},
            None,
            "Axes: Axes line 2: 'axis.robz' is not an axis name (roby, rob*) in 'axis.robz'",
            id="bad Axes line",
        ),
        pytest.param(
            {"Channels": ["axis.roby.velocity type=float access=rw"]},
            None,
            "Channels: line 1: axis.roby.velocity is a BLISS axis setting: a value written on "
            "its channel is only an event in BLISS; change it in BLISS (access=rw in "
            "'axis.roby.velocity type=float access=rw')",
            id="write on a BLISS axis setting",
        ),
        pytest.param(
            {"BeaconHost": ["beacon-host"]},
            None,
            "BeaconHost: 'beacon-host' is not host:port",
            id="bad BeaconHost",
        ),
        pytest.param(
            {"DiscoveryPeriod": ["fast"]},
            None,
            "DiscoveryPeriod: ['fast'] is not of type DevDouble: "
            "could not convert string to float: 'fast'",
            id="not a number",
        ),
        pytest.param(
            {"Channels": ["axis.roby.position"]},
            {"axis_roby_position": {"abs_chnage": ["0.1"]}},
            "attribute axis_roby_position: abs_chnage is not an attribute property; "
            "did you mean abs_change?",
            id="misspelt attribute property",
        ),
    ],
)
def test_each_problem_is_one_line_naming_device_and_property(
    apply, properties, attribute_properties, said
):
    code, out, lines = apply(document(properties, attribute_properties))
    assert (code, out, lines) == (ERROR, "", [said])


def test_every_problem_of_a_file_is_listed_at_once(apply):
    code, _, lines = apply(
        document({"RedisURL": ["redis://h:1/0"], "Channels": ["a.b", BAD_LINE, "a.b"]})
    )
    assert code == ERROR
    assert [line.split(":")[0] for line in lines] == [
        "RedisURL is not a BeaconChannels property; did you mean RedisUrl?",
        "Channels",
        "Channels",
    ]
    assert [line.split(": ")[1] for line in lines[1:]] == ["line 2", "line 3"]


def test_what_the_device_and_tango_read_passes():
    """Every property of the device class (whatever the lead adds to it), Tango's own device
    properties (polling, logging), Tango's internal ``_`` ones, and empty values, which
    dsconfig reads as "delete this property"."""
    properties = {
        name: ["1"] if is_numerical(prop.dtype, inc_array=True) or is_bool(prop.dtype) else ["x"]
        for name, prop in class_properties().items()
    }
    properties.update(RedisUrl=["unix:///run/redis.sock"], BeaconHost=["beacon-host:25000"])
    properties.update({name: ["1"] for name in TANGO_DEVICE_PROPERTIES})
    properties.update(__SubDevices=["id00/other/1"], Channels=[])
    config = document(properties, {"axis_roby_position": {"unit": ["mm"], "__value": ["1"]}})
    assert problems(config) == []


@pytest.mark.parametrize("command", sorted(NEVER_ALLOWED))
def test_a_command_that_changes_what_bliss_sees_is_never_allowed_to_read_only_clients(
    apply, command
):
    """Whatever the file says: the reason is given, whatever the case (Tango's client compares
    the names of ``AllowedAccessCmd`` without it)."""
    for spelt in (command, command.lower()):
        code, out, lines = apply(document({}, allowed=["AttributeName", spelt]), where=CLASS)
        assert (code, out) == (ERROR, "")
        assert lines == [f"AllowedAccessCmd: {never_allowed(command)}"]
        assert lines[0].startswith(f"AllowedAccessCmd: {command} is never allowed to read-only")


@pytest.mark.parametrize(
    ("allowed", "said"),
    [
        pytest.param(
            ["AtributeName"],
            "AllowedAccessCmd: AtributeName is not a BeaconChannels command; "
            "did you mean AttributeName?",
            id="misspelt command",
        ),
        pytest.param(
            ["channelname"],
            "AllowedAccessCmd: channelname is not a BeaconChannels command; "
            "did you mean ChannelName?",
            id="command in the wrong case",
        ),
        pytest.param(
            ["ReadEverything"],
            "AllowedAccessCmd: ReadEverything is not a BeaconChannels command",
            id="no such command, nothing close",
        ),
    ],
)
def test_allowed_access_cmd_names_commands_the_class_has(apply, allowed, said):
    code, out, lines = apply(document({}, allowed=allowed), where=CLASS)
    assert (code, out, lines) == (ERROR, "", [said])


def test_a_class_property_the_class_does_not_read_is_refused(apply):
    config = document({})
    config["classes"] = {"BeaconChannels": {"properties": {"AllowedAccesCmd": ["ChannelName"]}}}
    code, _, lines = apply(config, where=CLASS)
    assert (code, lines) == (
        ERROR,
        ["AllowedAccesCmd is not a BeaconChannels class property; did you mean AllowedAccessCmd?"],
    )


@pytest.mark.parametrize(
    "allowed",
    [
        pytest.param(list(DEFAULT_ALLOWED), id="the default"),
        pytest.param([*DEFAULT_ALLOWED, "StopAxes"], id="StopAxes allowed, a facility's choice"),
        pytest.param(["State", "Status"], id="Tango's own read commands"),
        pytest.param([], id="empty: no command (dsconfig removes the property)"),
    ],
)
def test_allowed_access_cmd_that_changes_nothing_passes(allowed):
    assert problems(document({"Channels": ["a.b"]}, allowed=allowed)) == []


def test_every_command_of_the_device_is_classified_for_read_only_clients():
    """A command added to the device fails this test until ``device_classes/access.py`` says whether
    read-only clients may run it; a renamed one, until its entry there follows it."""
    commands = set(class_commands())
    assert set(DEFAULT_ALLOWED) | set(NEVER_ALLOWED) | set(FACILITY_CHOICE) <= commands
    assert commands - {"State", "Status"} == {*DEFAULT_ALLOWED, *NEVER_ALLOWED, *FACILITY_CHOICE}
    assert not set(DEFAULT_ALLOWED) & (set(NEVER_ALLOWED) | set(FACILITY_CHOICE))


def test_a_file_that_does_not_set_allowed_access_cmd_gets_the_default():
    plain = document({"Channels": ["a.b"]})
    defaulted = with_default_access(plain)
    assert defaulted["classes"] == {
        "BeaconChannels": {"properties": {"AllowedAccessCmd": list(DEFAULT_ALLOWED)}}
    }
    assert "classes" not in plain  # the file's document is left as it was
    chosen = document({}, allowed=[*DEFAULT_ALLOWED, "StopAxes"])
    assert with_default_access(chosen) == chosen
    other = {"classes": {"BeaconChannels": {"attribute_properties": {"a": {"unit": ["mm"]}}}}}
    assert with_default_access(other)["classes"]["BeaconChannels"] == {
        "attribute_properties": {"a": {"unit": ["mm"]}},
        "properties": {"AllowedAccessCmd": list(DEFAULT_ALLOWED)},
    }


def test_the_files_of_the_access_control_page_pass_the_checks():
    page = Path(__file__).parent.parent / "docs" / "access-control.md"
    files = re.findall(r"^```json\n(.*?)^```$", page.read_text(), re.M | re.S)
    assert files
    for text in files:
        assert problems(parse(json.loads(text))) == []


# ------------------------------------------------------------------ BeaconAxis devices
AXIS = "id00/bliss/roby"
AXIS_CLASS = "class BeaconAxis"


def axes_document(
    devices: dict[str, dict], instance: str = "id00", allowed: list | None = None
) -> dict:
    """BeaconAxis devices (name -> properties) of one instance."""
    by_device = {name: {"properties": properties} for name, properties in devices.items()}
    config: dict = {"servers": {"BeaconChannels": {instance: {"BeaconAxis": by_device}}}}
    if allowed is not None:
        config["classes"] = {"BeaconAxis": {"properties": {"AllowedAccessCmd": allowed}}}
    return config


@pytest.mark.parametrize(
    ("properties", "said"),
    [
        pytest.param(
            {"Axes": ["roby"]},
            "Axes is not a BeaconAxis property; did you mean Axis?",
            id="a BeaconChannels property",
        ),
        pytest.param(
            {"RedisURL": ["redis://redis-host:6379/0"]},
            "RedisURL is not a BeaconAxis property; did you mean RedisUrl?",
            id="property in the wrong case",
        ),
        pytest.param(
            {"Axis": ["roby", "robz"]},
            "Axis: takes one value, the file gives 2",
            id="two axes",
        ),
        pytest.param(
            {"Axis": ["axis.roby"]},
            "Axis: 'axis.roby' is not a BLISS axis name: it has a '.' (channels are "
            "axis.<name>.<setting>)",
            id="a channel name",
        ),
        pytest.param(
            {"Axis": ["rob*"]},
            "Axis: 'rob*' is not a BLISS axis name: it has a '*' (a glob character)",
            id="a glob",
        ),
        pytest.param(
            {"Axis": ["sample x"]},
            "Axis: 'sample x' is not a BLISS axis name: it has a space",
            id="a space",
        ),
        pytest.param(
            {"Axis": ["m1/roby"]},
            "Axis: 'm1/roby' is not a BLISS axis name: it has a '/' (it separates the "
            "members of a Tango device name)",
            id="a slash",
        ),
        pytest.param(
            {"Axis": ["roby:initialized"]},
            "Axis: 'roby:initialized' is not a BLISS axis name: it has a ':' (BLISS caches "
            "are <name>:<key>)",
            id="a cache name",
        ),
        pytest.param(
            {"Axis": ["2theta"]},
            "Axis: '2theta' is not a BLISS axis name: it starts with a digit (BLISS: names "
            "start with a letter or _)",
            id="starts with a digit",
        ),
        pytest.param(
            {"Axis": ["$roby"]},
            "Axis: '$roby' is not a BLISS axis name: '$' starts a reference to another "
            "object in BLISS's configuration",
            id="a BLISS reference",
        ),
        pytest.param(
            {"BeaconHost": ["beacon-host"]},
            "BeaconHost: 'beacon-host' is not host:port",
            id="bad BeaconHost",
        ),
    ],
)
def test_each_problem_of_a_beacon_axis_device_is_one_line(apply, properties, said):
    code, out, lines = apply(axes_document({AXIS: properties}), where=AXIS)
    assert (code, out, lines) == (ERROR, "", [said])


@pytest.mark.parametrize(
    ("device", "why"),
    [
        ("id00/bliss/rob.y", "it has a '.' (channels are axis.<name>.<setting>)"),
        ("id00/bliss/2theta", "it starts with a digit (BLISS: names start with a letter or _)"),
    ],
)
def test_a_device_name_that_names_no_axis_needs_the_axis_property(apply, device, why):
    """The schema takes these names (Tango does); without ``Axis`` the device would serve an
    axis BLISS can't have. With ``Axis``, the name is free."""
    code, _, lines = apply(axes_document({device: {}}), where=device)
    member = device.rpartition("/")[2]
    assert (code, lines) == (
        ERROR,
        [
            f"no Axis property, and the last member of its name, {member!r}, is not a BLISS "
            f"axis name: {why}; give the axis in the Axis property"
        ],
    )
    assert problems(axes_document({device: {"Axis": ["roby"]}})) == []


def test_two_devices_for_one_axis_are_refused_across_the_file():
    """Whether the axis is given by ``Axis`` or by the device's name, in one instance or two
    (on one Beacon): the second device is named, with the first."""
    beacon = {"BeaconHost": ["id00-beacon:25000"]}
    config = axes_document({AXIS: beacon, "id00/bliss/sample_y": {**beacon, "Axis": ["roby"]}})
    other = axes_document({"id00/motors/roby": {"BeaconHost": ["ID00-Beacon:25000"]}}, "id00b")
    config["servers"]["BeaconChannels"]["id00b"] = other["servers"]["BeaconChannels"]["id00b"]
    assert problems(config) == [
        "id00/bliss/sample_y: axis 'roby' is served by id00/bliss/roby already",
        "id00/motors/roby: axis 'roby' (the last member of its name) is served by "
        "id00/bliss/roby already",
    ]
    # Without RedisUrl nor BeaconHost, devices of one instance read one environment.
    same_environment = axes_document({AXIS: {}, "id00/bliss/y": {"Axis": ["roby"]}})
    assert problems(same_environment) == [
        "id00/bliss/y: axis 'roby' is served by id00/bliss/roby already"
    ]
    # A URL is compared as an address: the same Redis, spelt two ways.
    by_url = axes_document(
        {
            AXIS: {"RedisUrl": ["redis://redis-host/0"]},
            "id00/bliss/y": {"RedisUrl": ["redis://redis-host:6379"], "Axis": ["roby"]},
        }
    )
    assert problems(by_url) == ["id00/bliss/y: axis 'roby' is served by id00/bliss/roby already"]


def test_one_axis_name_on_two_beamlines_is_two_axes():
    """``roby`` of one beamline's Beacon is another axis than ``roby`` of another's; so are
    axes of two instances that find Redis through their own environment (systemd's per
    instance file)."""
    config = axes_document({AXIS: {"BeaconHost": ["id00-beacon:25000"]}})
    config["servers"]["BeaconChannels"]["id01"] = {
        "BeaconAxis": {"id01/bliss/roby": {"properties": {"BeaconHost": ["id01-beacon:25000"]}}}
    }
    assert problems(config) == []
    by_environment = axes_document({AXIS: {}})
    by_environment["servers"]["BeaconChannels"]["id01"] = {"BeaconAxis": {"id01/bliss/roby": {}}}
    assert problems(by_environment) == []


def test_the_class_s_beacon_is_the_default_of_its_devices():
    """A ``BeaconHost`` of the class counts for devices that set none (Tango gives a class
    property to the device property of the same name): two instances' ``roby`` are then one
    axis. (Whether the class declares that class property is checked apart.)"""
    config = axes_document({AXIS: {}})
    config["servers"]["BeaconChannels"]["id00b"] = {"BeaconAxis": {"id00b/bliss/roby": {}}}
    assert problems(config) == []  # two instances: two environments
    config["classes"] = {"BeaconAxis": {"properties": {"BeaconHost": ["beacon:25000"]}}}
    assert (
        "id00b/bliss/roby: axis 'roby' (the last member of its name) is served by "
        "id00/bliss/roby already"
    ) in problems(config)


def test_a_beacon_axis_device_with_what_the_device_and_tango_read_passes():
    """Every property of the class (whatever it gains), Tango's own and internal ones, and a
    file with both classes in one instance."""
    properties = {name: ["x"] for name in class_properties(BeaconAxis)}
    properties.update(Axis=["roby"], RedisUrl=["unix:///run/redis.sock"], BeaconHost=[""])
    properties.update({name: ["1"] for name in TANGO_DEVICE_PROPERTIES}, __SubDevices=["x/y/z"])
    config = document({"Channels": ["axis.roby.position"]})
    config["servers"]["BeaconChannels"]["id00"]["BeaconAxis"] = {
        AXIS: {"properties": properties, "attribute_properties": {"Position": {"unit": ["mm"]}}},
        "id00/bliss/robz": {},
    }
    assert problems(config) == []


def test_beacon_axis_read_only_clients_run_nothing_by_default():
    """A read-only client reads and subscribes; Stop and Abort are the facility's choice;
    Init never (it would make the device ask BLISS for the axis's channels again)."""
    assert AXIS_RULES.default == ()
    assert set(AXIS_RULES.facility_choice) == {"Stop", "Abort"}
    defaulted = with_default_access(axes_document({AXIS: {}}))
    assert defaulted["classes"] == {"BeaconAxis": {"properties": {"AllowedAccessCmd": []}}}
    both = document({"Channels": ["a.b"]})
    both["servers"]["BeaconChannels"]["id00"]["BeaconAxis"] = {AXIS: {}}
    assert with_default_access(both)["classes"] == {
        "BeaconChannels": {"properties": {"AllowedAccessCmd": list(DEFAULT_ALLOWED)}},
        "BeaconAxis": {"properties": {"AllowedAccessCmd": []}},
    }
    assert problems(axes_document({AXIS: {}}, allowed=["Stop", "Abort"])) == []


@pytest.mark.parametrize(
    ("allowed", "said"),
    [
        pytest.param(
            ["Init"],
            f"AllowedAccessCmd: {never_allowed('Init', 'BeaconAxis')}",
            id="Init, never",
        ),
        pytest.param(
            ["Stopp"],
            "AllowedAccessCmd: Stopp is not a BeaconAxis command; did you mean Stop?",
            id="misspelt",
        ),
        pytest.param(
            ["StopAxes"],
            "AllowedAccessCmd: StopAxes is not a BeaconAxis command; did you mean Stop?",
            id="BeaconChannels's command",
        ),
    ],
)
def test_beacon_axis_allowed_access_cmd_names_its_own_commands(apply, allowed, said):
    code, out, lines = apply(axes_document({AXIS: {}}, allowed=allowed), where=AXIS_CLASS)
    assert (code, out, lines) == (ERROR, "", [said])
    assert never_allowed("init", "BeaconAxis").startswith("Init is never allowed to read-only")


def test_every_command_of_beacon_axis_is_classified_for_read_only_clients():
    """As for BeaconChannels: a command added to BeaconAxis fails this test until
    ``device_classes/access.py`` says whether read-only clients may run it. (The rules name
    Stop and Abort before the class declares them.)"""
    commands = set(class_commands(BeaconAxis)) - {"State", "Status"}
    assert commands <= AXIS_RULES.classified
    assert not set(AXIS_RULES.default) & (set(AXIS_RULES.never) | set(AXIS_RULES.facility_choice))


def test_a_class_s_redis_is_its_devices_default_and_is_checked_as_theirs():
    from tango_channels_deploy.validate import problems

    def document(properties: dict[str, list[str]]) -> dict:
        return {
            "servers": {"BeaconChannels": {"id00": {"BeaconAxis": {"id00/bliss/roby": {}}}}},
            "classes": {"BeaconAxis": {"properties": properties}},
        }

    assert problems(document({"RedisUrl": ["redis://redis-host:6379/0"]})) == []
    assert problems(document({"BeaconHost": ["beacon-host:25000"]})) == []
    (refused,) = problems(document({"RedisUrl": ["http://nothing"]}))
    assert "class BeaconAxis: RedisUrl:" in refused and "is not a Redis URL" in refused

