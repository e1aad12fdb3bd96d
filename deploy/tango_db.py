"""Comparing a deployment file with a Tango database, and making the database match it.

:func:`plan` reads what the database holds for the server instances of the file and returns
the :class:`Change` list that would make it match; each change knows how to apply itself, and
prints as one line of a diff. :func:`read` gives the database's BeaconChannels servers back
in the file's format (``dump``). Works with any Tango database server: the standard
DataBaseds on MySQL/MariaDB, pytango-db, a file database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tango

from tango_channels_deploy.config import SERVER, Device, Instance, Properties

__all__ = ["Change", "plan", "read"]


@dataclass
class Change:
    """One difference between the file and the database, and how to remove it."""

    sign: str  # "+" added, "-" removed, "~" changed
    what: str
    apply: Callable[[], None]
    before: list[str] | None = None
    after: list[str] | None = None

    def __str__(self) -> str:
        line = f"{self.sign} {self.what}"
        if self.sign == "~":
            line += f": {self.before} -> {self.after}"
        elif self.sign == "+" and self.after is not None:
            line += f": {self.after}"
        return line


def _devices_of(db: tango.Database, server: str) -> dict[str, str]:
    """device (lower case) -> class, for the devices of ``server`` (its admin device aside)."""
    try:
        flat = list(db.get_device_class_list(server))
    except tango.DevFailed:
        return {}
    pairs = dict(zip(flat[::2], flat[1::2], strict=True))
    return {d.lower(): c for d, c in pairs.items() if not d.lower().startswith("dserver/")}


def _properties(db: tango.Database, device: str) -> Properties:
    names = list(db.get_device_property_list(device, "*"))
    if not names:
        return {}
    return {k: list(v) for k, v in db.get_device_property(device, names).items()}


def _attribute_properties(
    db: tango.Database, device: str, attributes: list[str]
) -> dict[str, Properties]:
    if not attributes:
        return {}
    found = db.get_device_attribute_property(device, attributes)
    return {attr: {k: list(v) for k, v in props.items()} for attr, props in found.items()}


def _diff(
    what: str,
    current: Properties,
    wanted: Properties,
    put: Callable[[Properties], None],
    delete: Callable[[list[str]], None],
) -> list[Change]:
    """Changes turning ``current`` into ``wanted`` (property names are case-insensitive)."""
    changes = []
    by_lower = {name.lower(): name for name in current}
    for name, values in sorted(wanted.items()):
        existing = by_lower.pop(name.lower(), None)
        if existing is None:
            changes.append(
                Change("+", f"{what}->{name}", lambda n=name, v=values: put({n: v}), after=values)
            )
        elif current[existing] != values:
            changes.append(
                Change(
                    "~",
                    f"{what}->{name}",
                    lambda n=name, v=values: put({n: v}),
                    before=current[existing],
                    after=values,
                )
            )
    for name in sorted(by_lower.values()):
        changes.append(
            Change("-", f"{what}->{name}", lambda n=name: delete([n]), before=current[name])
        )
    return changes


def plan(db: tango.Database, instances: list[Instance]) -> list[Change]:
    """What applying ``instances`` to ``db`` would change, in order."""
    changes: list[Change] = []
    for instance in instances:
        server = instance.server
        existing = _devices_of(db, server)
        for name in sorted(set(existing) - set(instance.devices)):
            if existing[name] == SERVER:
                changes.append(
                    Change("-", f"device {name} ({server})", lambda n=name: _delete_device(db, n))
                )
        for device in sorted(instance.devices.values(), key=lambda d: d.name):
            changes += _plan_device(db, server, device, registered=device.name in existing)
    return changes


def _plan_device(db: tango.Database, server: str, device: Device, registered: bool) -> list[Change]:
    changes: list[Change] = []
    name = device.name
    if not registered:
        elsewhere = ""
        try:
            info = db.get_device_info(name)
            elsewhere = f", moved from {info.ds_full_name}"
        except tango.DevFailed:
            pass
        changes.append(
            Change(
                "+", f"device {name} ({server}{elsewhere})", lambda: _add_device(db, server, name)
            )
        )
    current = _properties(db, name) if registered else {}
    changes += _diff(
        name,
        current,
        device.properties,
        lambda props: db.put_device_property(name, props),
        lambda names: db.delete_device_property(name, names),
    )
    attributes = sorted(device.attribute_properties)
    current_attrs = _attribute_properties(db, name, attributes) if registered else {}
    for attr in attributes:
        changes += _diff(
            f"{name}/{attr}",
            current_attrs.get(attr, {}),
            device.attribute_properties[attr],
            lambda props, a=attr: db.put_device_attribute_property(name, {a: props}),
            lambda names, a=attr: db.delete_device_attribute_property(name, {a: names}),
        )
    return changes


def _add_device(db: tango.Database, server: str, name: str) -> None:
    info = tango.DbDevInfo()
    info.name, info._class, info.server = name, SERVER, server
    db.add_device(info)


def _delete_device(db: tango.Database, name: str) -> None:
    names = list(db.get_device_property_list(name, "*"))
    if names:
        db.delete_device_property(name, names)
    db.delete_device(name)


def read(db: tango.Database, instance_names: list[str] | None = None) -> list[Instance]:
    """The BeaconChannels server instances in ``db`` (all, or those named)."""
    servers = [
        s
        for s in db.get_server_list(f"{SERVER}/*")
        if instance_names is None or s.split("/", 1)[1] in instance_names
    ]
    instances = []
    for server in sorted(servers):
        instance = Instance(server.split("/", 1)[1])
        for name, cls in sorted(_devices_of(db, server).items()):
            if cls != SERVER:
                continue
            found = tango.StdStringVector()  # filled in place by the call
            db.get_device_attribute_list(name, found)
            attributes = list(found)
            instance.devices[name] = Device(
                name,
                _properties(db, name),
                {a: p for a, p in _attribute_properties(db, name, attributes).items() if p},
            )
        instances.append(instance)
    return instances
