"""Deployment files that can't be used: ``beacon-channels-deploy`` says why in one line on
stderr, naming the file, and exits 1. No Tango database is needed: the file is read first, and
checked against dsconfig's own schema (so json2tango would read it the same way)."""

from __future__ import annotations

import json

import pytest

from tango_channels_deploy.cli import ERROR, main
from tango_channels_deploy.config import ConfigError, load

GOOD = {
    "servers": {
        "BeaconChannels": {
            "id00": {
                "BeaconChannels": {"id00/beacon/channels": {"properties": {"Channels": ["a.b"]}}}
            }
        }
    }
}


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("bad.yaml", b"servers:\n  BeaconChannels: {a: [1\n b: 2\n", "line 3, column 3"),
        ("tabs.yml", b"servers:\n\tBeaconChannels: {}\n", "line 2, column 1"),
        ("bad.json", b'{"servers": ', "Expecting value: line 1 column 13"),
        ("latin1.json", '{"servers": "é"}'.encode("latin-1"), "not UTF-8 (byte 0xe9"),
        ("latin1.yaml", "servers: é\n".encode("latin-1"), "not UTF-8 (byte 0xe9"),
        ("keys.yaml", b"servers:\n  BeaconChannels:\n    1: {}\n", "key 1 is not a string"),
        (
            "scalar.json",
            b'{"servers": {"BeaconChannels": {"id00": {"BeaconChannels": {"id00/beacon/1": '
            b'{"properties": {"Channels": "a.b"}}}}}}}',
            "servers.BeaconChannels.id00.BeaconChannels.id00/beacon/1.properties.Channels: "
            "'a.b' is not of type 'array' (property values are lists of strings)",
        ),
        (
            "name.yaml",
            b"servers: {BeaconChannels: {id00: {BeaconChannels: {id00-beacon: {}}}}}\n",
            "'id00-beacon' does not match",  # a device name is domain/family/member
        ),
        (
            "classes.json",
            b'{"classes": {"Starter": {}}}',
            "classes: 'Starter' is not 'BeaconChannels' or 'BeaconAxis' (json2tango deploys "
            "others)",
        ),
        (
            "class.json",
            b'{"servers": {"BeaconChannels": {"id00": {"Motor": {"id00/bliss/roby": {}}}}}}',
            "servers.BeaconChannels.id00: class 'Motor' is not 'BeaconChannels' or 'BeaconAxis'",
        ),
    ],
)
def test_an_unusable_file_is_one_line_on_stderr_and_exit_1(tmp_path, capsys, name, content, says):
    path = tmp_path / name
    path.write_bytes(content)

    assert main(["apply", str(path), "--dry-run"]) == ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"beacon-channels-deploy: error: {path}: ") and err.count("\n") == 1
    assert says in err


def test_a_missing_file_is_an_error_naming_it(tmp_path, capsys):
    path = tmp_path / "absent.json"
    assert main(["apply", str(path)]) == ERROR
    assert (
        capsys.readouterr().err
        == f"beacon-channels-deploy: error: {path}: No such file or directory\n"
    )


def test_yaml_and_json_files_load_alike(tmp_path):
    as_json, as_yaml = tmp_path / "beacon.json", tmp_path / "beacon.yaml"
    as_json.write_text(json.dumps(GOOD), encoding="utf-8")
    as_yaml.write_text(
        "servers:\n  BeaconChannels:\n    id00:\n      BeaconChannels:\n"
        "        id00/beacon/channels:\n          properties:\n"
        "            Channels: [a.b]\n",
        encoding="utf-8",
    )
    assert load(as_json) == load(as_yaml) == GOOD


def test_what_tango2json_adds_is_ignored(tmp_path):
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({**GOOD, "tango_host": "tango-db:10000", "_title": "x"}))
    assert load(path)["servers"] == GOOD["servers"]


def test_a_document_error_names_the_file(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"servers": {"Other": {}}}', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"other\.json: servers: 'Other' is not"):
        load(path)
