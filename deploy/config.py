"""The deployment file: MAX IV's dsconfig JSON format, or YAML that reads as the same document.

    {"servers": {"BeaconChannels": {"<instance>": {
        "BeaconChannels": {"<device>": {
            "properties": {"RedisUrl": ["redis://..."], "Channels": ["axis.roby.position", ...]},
            "attribute_properties": {"axis_roby_position": {"unit": ["mm"]}}}},
        "BeaconAxis": {"<beamline>/bliss/<axis>": {"properties": {"RedisUrl": ["redis://..."]}}}
    }}},
     "classes": {"BeaconChannels": {"properties": {"AllowedAccessCmd": ["AttributeName", ...]}},
                 "BeaconAxis": {"properties": {"AllowedAccessCmd": []}}}}

The file is checked against dsconfig's own JSON schema, so that any file this tool takes,
``json2tango`` takes too and reads the same way (property values are lists of strings, as
Tango stores them; ``tango_host`` and the ``_`` metadata keys of ``tango2json`` are ignored).
The YAML form is only a front: it is loaded into the same document and checked the same way.

What the file means is json2tango's: each server instance it names is described completely
(devices it doesn't list are removed from that instance; see ``docs/deployment.md``). The
server is ``BeaconChannels``; its device classes (:data:`CLASSES`) are ``BeaconChannels`` and
``BeaconAxis`` (one device per BLISS axis). Other servers, other classes and the ``devices``
section are refused: this tool deploys the BeaconChannels server, and leaves everything else
to ``json2tango``.

The one thing this tool adds to json2tango's meaning: the class property ``AllowedAccessCmd``
(the commands Tango's access control lets read-only clients run, see
``device_classes/access.py``) is its class's default where the file doesn't set it, for each
class the file names (:func:`with_default_access`), so that every deployment declares it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml
from dsconfig.formatting import SCHEMA_FILENAME

from tango_channels_device.access import BY_CLASS, CLASS_PROPERTY

__all__ = [
    "AXIS_CLASS",
    "CLASSES",
    "SERVER",
    "ConfigError",
    "Device",
    "class_entry",
    "classes_named",
    "devices",
    "load",
    "parse",
    "to_json",
    "with_default_access",
]

SERVER = "BeaconChannels"  # the server (executable), and its first device class
AXIS_CLASS = "BeaconAxis"
CLASSES = (SERVER, AXIS_CLASS)  # the device classes the server hosts
YAML_SUFFIXES = (".yaml", ".yml")
IGNORED_KEYS = ("tango_host",)  # written by tango2json, checked only by ``json2tango -t``


class ConfigError(ValueError):
    """A deployment file that can't be used; the message says where."""


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(Path(SCHEMA_FILENAME).read_text())
    return jsonschema.validators.validator_for(schema)(schema)


def _where(path: list[Any]) -> str:
    return ".".join(str(part) for part in path) or "the file"


def _string_keys(data: Any, path: list[Any]) -> None:
    """YAML keys may be numbers, booleans, dates...: the schema can't even look at those."""
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                raise ConfigError(f"{_where(path)}: key {key!r} is not a string")
            _string_keys(value, [*path, key])
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _string_keys(value, [*path, index])


def parse(data: Any) -> dict[str, Any]:
    """The dsconfig document of a loaded file, checked; :class:`ConfigError` says what's wrong."""
    _string_keys(data, [])
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if key not in IGNORED_KEYS}
    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        path = list(error.absolute_path)
        hint = " (property values are lists of strings)" if error.validator == "type" else ""
        raise ConfigError(f"{_where(path)}: {error.message}{hint}")
    if "devices" in data:
        raise ConfigError("devices: not deployed by this tool (json2tango does)")
    if "servers" not in data and "classes" not in data:
        raise ConfigError("the file has no 'servers' (nor 'classes')")
    known = " or ".join(repr(c) for c in CLASSES)
    for cls in data.get("classes", {}):
        if cls not in CLASSES:
            raise ConfigError(f"classes: {cls!r} is not {known} (json2tango deploys others)")
    for server, by_instance in data.get("servers", {}).items():
        if server != SERVER:
            raise ConfigError(f"servers: {server!r} is not {SERVER!r}")
        for instance, by_class in by_instance.items():
            for cls in by_class:
                if cls not in CLASSES:
                    where = f"servers.{server}.{instance}"
                    raise ConfigError(f"{where}: class {cls!r} is not {known}")
    return data


class Device(NamedTuple):
    """One device of a deployment document: where it is declared, and its entry."""

    instance: str
    device_class: str
    name: str
    entry: dict[str, Any]


def devices(document: dict[str, Any]) -> Iterator[Device]:
    """Each device of a checked document, in the file's order."""
    for instance, by_class in document.get("servers", {}).get(SERVER, {}).items():
        for device_class, by_device in by_class.items():
            for name, entry in by_device.items():
                yield Device(instance, device_class, name, entry)


def class_entry(document: dict[str, Any], device_class: str = SERVER) -> dict[str, Any]:
    """The ``classes.<device_class>`` entry of a checked document (``{}`` if it has none)."""
    entry: dict[str, Any] = document.get("classes", {}).get(device_class, {})
    return entry


def classes_named(document: dict[str, Any]) -> list[str]:
    """The device classes a checked document names: those it has devices of, or a ``classes``
    entry for (in :data:`CLASSES`' order)."""
    named = {device.device_class for device in devices(document)}
    named |= set(document.get("classes", {}))
    return [device_class for device_class in CLASSES if device_class in named]


def with_default_access(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with each class it names given its default ``AllowedAccessCmd`` (see
    ``device_classes/access.py``) where it doesn't set it.

    A class's other properties are the file's, when it gives the class ``properties``; when
    it doesn't, the database's other class properties are left as they are (the caller drops
    dsconfig's calls that would remove them, see ``database.apply``). A default that is empty
    (BeaconAxis's: no command) is ``[]``, which dsconfig writes by removing the property.
    A class the file doesn't name is left alone.
    """
    classes = dict(document.get("classes", {}))
    for device_class in classes_named(document):
        entry = classes.get(device_class, {})
        properties = entry.get("properties", {})
        if CLASS_PROPERTY not in properties:
            default = list(BY_CLASS[device_class].default)
            classes[device_class] = {
                **entry,
                "properties": {**properties, CLASS_PROPERTY: default},
            }
    if classes == document.get("classes", {}):
        return document
    return {**document, "classes": classes}


def load(path: Path) -> dict[str, Any]:
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


def to_json(document: dict[str, Any]) -> str:
    """A document as ``tango2json`` writes one: the two tools' files compare line by line."""
    return json.dumps(document, ensure_ascii=False, indent=4, sort_keys=True) + "\n"
