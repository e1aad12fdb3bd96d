"""The deployment file: dsconfig's JSON format (or YAML that maps 1:1 onto it).

    {"servers": {"BeaconChannels": {"<instance>": {"BeaconChannels": {"<device>": {
        "properties": {"RedisUrl": ["redis://..."], "Channels": ["axis.roby.position", ...]},
        "attribute_properties": {"axis_roby_position": {"unit": ["mm"], "abs_change": ["0.01"]}}
    }}}}}}

Property values are lists of strings, as Tango stores them; a single string or number is
taken as a one-element list. The file describes each server instance it names completely:
applying it makes the database hold exactly those devices, properties and, for the attributes
it lists, exactly those attribute properties. Servers and instances it doesn't name are left
alone. Other server or class names are refused: this tool deploys BeaconChannels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "SERVER",
    "ConfigError",
    "Device",
    "Instance",
    "Properties",
    "load",
    "parse",
    "to_document",
    "to_json",
]

SERVER = "BeaconChannels"
YAML_SUFFIXES = (".yaml", ".yml")

Properties = dict[str, list[str]]


class ConfigError(ValueError):
    """A deployment file that can't be used; the message says where."""


@dataclass
class Device:
    name: str
    properties: Properties = field(default_factory=dict)
    attribute_properties: dict[str, Properties] = field(default_factory=dict)


@dataclass
class Instance:
    """One server instance, ``BeaconChannels/<name>``, and its devices."""

    name: str
    devices: dict[str, Device] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"{SERVER}/{self.name}"


def _values(value: Any, where: str) -> list[str]:
    if isinstance(value, list):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{where}: values must be strings or numbers")
        return [str(v) for v in value]
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [str(value)]
    raise ConfigError(f"{where}: expected a list of strings, got {type(value).__name__}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    for key in value:  # YAML keys may be numbers, booleans, dates...
        if not isinstance(key, str):
            raise ConfigError(f"{where}: key {key!r} is not a string")
    return value


def parse(data: Any) -> list[Instance]:
    """The instances described by a loaded deployment document."""
    servers = _mapping(_mapping(data, "the file").get("servers"), "servers")
    instances = []
    for server, by_instance in servers.items():
        if server != SERVER:
            raise ConfigError(f"servers: {server!r} is not {SERVER!r}")
        for instance_name, by_class in _mapping(by_instance, f"servers.{server}").items():
            instance = Instance(instance_name)
            where = f"servers.{server}.{instance_name}"
            for cls, devices in _mapping(by_class, where).items():
                if cls != SERVER:
                    raise ConfigError(f"{where}: class {cls!r} is not {SERVER!r}")
                for device_name, content in _mapping(devices, f"{where}.{cls}").items():
                    dwhere = f"{where}.{cls}.{device_name}"
                    if device_name.count("/") != 2:
                        raise ConfigError(f"{dwhere}: a device name is domain/family/member")
                    content = _mapping(content, dwhere)
                    unknown = set(content) - {"properties", "attribute_properties"}
                    if unknown:
                        raise ConfigError(f"{dwhere}: unknown keys {sorted(unknown)}")
                    properties = {
                        name: _values(value, f"{dwhere}.properties.{name}")
                        for name, value in _mapping(
                            content.get("properties", {}), f"{dwhere}.properties"
                        ).items()
                    }
                    attribute_properties = {
                        attr: {
                            name: _values(value, f"{dwhere}.attribute_properties.{attr}.{name}")
                            for name, value in _mapping(props, f"{dwhere}.{attr}").items()
                        }
                        for attr, props in _mapping(
                            content.get("attribute_properties", {}),
                            f"{dwhere}.attribute_properties",
                        ).items()
                    }
                    instance.devices[device_name.lower()] = Device(
                        device_name.lower(), properties, attribute_properties
                    )
            instances.append(instance)
    return instances


def load(path: Path) -> list[Instance]:
    """Read a deployment file: UTF-8, JSON (or YAML if named ``.yaml``/``.yml``).

    Whatever makes it unusable (unreadable, not UTF-8, not JSON or YAML, nested too deeply, not
    a deployment document) is a :class:`ConfigError` of one line starting with the file's name.
    """
    try:
        text = path.read_bytes().decode("utf-8")
        data = yaml.safe_load(text) if path.suffix in YAML_SUFFIXES else json.loads(text)
        return parse(data)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # before ValueError, of which it is one
        byte = exc.object[exc.start]
        raise ConfigError(f"{path}: not UTF-8 (byte 0x{byte:02x} at offset {exc.start})") from None
    except yaml.YAMLError as exc:  # not a ValueError
        raise ConfigError(f"{path}: {_yaml_error(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError (one line, says where) and ConfigError
        raise ConfigError(f"{path}: {exc}") from None


def _yaml_error(exc: yaml.YAMLError) -> str:
    """PyYAML's message, which spans several lines and quotes the text, as one line."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None and exc.problem:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"{where}: {exc.problem}" + (f" ({exc.context})" if exc.context else "")
    return " ".join(str(exc).split())


def to_document(instances: list[Instance]) -> dict[str, Any]:
    """The dsconfig document for ``instances`` (what ``dump`` writes)."""
    servers: dict[str, Any] = {}
    for instance in sorted(instances, key=lambda i: i.name):
        devices = {}
        for device in sorted(instance.devices.values(), key=lambda d: d.name):
            entry: dict[str, Any] = {"properties": dict(sorted(device.properties.items()))}
            if device.attribute_properties:
                entry["attribute_properties"] = {
                    attr: dict(sorted(props.items()))
                    for attr, props in sorted(device.attribute_properties.items())
                }
            devices[device.name] = entry
        servers[instance.name] = {SERVER: devices}
    return {"servers": {SERVER: servers}}


def to_json(instances: list[Instance]) -> str:
    return json.dumps(to_document(instances), indent=2) + "\n"
