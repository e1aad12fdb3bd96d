"""A deployment document and a Tango database, compared, written and read back by dsconfig.

Nothing here compares by itself: :func:`apply` is ``json2tango``'s own ``prepare_config`` +
``apply_config`` (which reads the database as json2tango does and works out the database calls
with dsconfig's ``configure``), then makes those calls as ``json2tango -w`` does, and
:func:`dump` is ``tango2json``'s ``get_db_data``. So a file applied here and with
``json2tango -w`` gives the same database, and a dump re-applied by either tool changes
nothing. Works with any Tango database server that answers ``DbMySqlSelect``: DataBaseds on
MySQL/MariaDB, pytango-db.

One difference from json2tango, on purpose: the class property ``AllowedAccessCmd`` is written
with its class's default where the file doesn't set it (``config.with_default_access``), and a
dump always sets it for each class it holds devices of (``[]``, "none", where the database has
none), so that a dump re-applied changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tango
from dsconfig.dump import get_db_data
from dsconfig.json2tango import apply_config, prepare_config
from dsconfig.tangodb import get_classes_properties, summarise_calls

from tango_channels_deploy.config import (
    CLASSES,
    SERVER,
    class_entry,
    classes_named,
    with_default_access,
)
from tango_channels_device.access import CLASS_PROPERTY

__all__ = ["Plan", "apply", "dump"]

DbCall = tuple[str, tuple[Any, ...], dict[str, Any]]


@dataclass
class Plan:
    """What the database held (``original``, dsconfig's form) and the calls to make it match."""

    original: dict[str, Any]
    calls: list[DbCall]

    def summary(self) -> list[str]:
        """dsconfig's one-line-per-kind summary (``Add 1 devices to 1 servers.``...)."""
        return summarise_calls(self.calls, self.original)


def _no_alias(call: DbCall) -> bool:
    """dsconfig 1.9 takes DataBaseds' empty alias column for an alias named "": whenever the
    database's last device is one of the file's, it plans ``delete_device_alias("")``, a call
    that changes nothing, on every run. Such a call is not a change."""
    method, args, _ = call
    return method == "delete_device_alias" and not args[0]


def _kept(call: DbCall, says_nothing: set[str]) -> DbCall | None:
    """``call``, or what of it remains once it removes no class property but
    ``AllowedAccessCmd`` of a class in ``says_nothing`` (None: nothing)."""
    method, args, kwargs = call
    if method != "delete_class_property" or args[0] not in says_nothing:
        return call
    removed = {name: value for name, value in args[1].items() if name == CLASS_PROPERTY}
    return (method, (args[0], removed, *args[2:]), kwargs) if removed else None


def apply(db: tango.Database, document: dict[str, Any], write: bool) -> Plan:
    """The calls that make ``db`` match ``document``; made too if ``write``.

    A file that gives a class it names no ``properties`` says nothing of them: only
    ``AllowedAccessCmd`` (its default) is written, and the class's other properties stay.
    """
    says_nothing = {
        device_class
        for device_class in classes_named(document)
        if "properties" not in class_entry(document, device_class)
    }
    config = prepare_config(with_default_access(document))
    _, original, calls, *_ = apply_config(config, db, write=False)
    kept = (_kept(call, says_nothing) for call in calls if not _no_alias(call))
    plan = Plan(original, [call for call in kept if call is not None])
    if write:
        for method, args, kwargs in plan.calls:  # what json2tango -w does with them
            getattr(db, method)(*args, **kwargs)
    return plan


def dump(db: tango.Database, instances: list[str]) -> dict[str, Any]:
    """The BeaconChannels servers of ``db`` (all, or the instances named), as a document,
    with the ``classes`` entry of each device class they hold devices of.

    Without ``tango_host``, which tango2json adds: the same file then deploys a test database
    and the production one alike.
    """
    patterns = [f"server:{SERVER}/{name}" for name in instances] or [f"server:{SERVER}/*"]
    found = get_db_data(db, patterns, include_tango_host=False).get("servers", {}).get(SERVER, {})
    if instances:  # the patterns are SQL LIKE ones, where "_" matches any character
        wanted = {name.lower() for name in instances}
        found = {name: data for name, data in found.items() if name.lower() in wanted}
        missing = wanted - {name.lower() for name in found}
        if missing:
            raise RuntimeError(f"no {SERVER} instance {', '.join(sorted(missing))} in the database")
    if not found:
        return {"servers": {}}
    held = {cls for by_class in found.values() for cls in by_class}
    classes = {cls: _class_data(db, cls) for cls in CLASSES if cls in held}
    return {"servers": {SERVER: found}, "classes": classes}


def _class_data(db: tango.Database, device_class: str) -> dict[str, Any]:
    """The class's entry, as ``tango2json -c`` writes it, with ``AllowedAccessCmd`` always
    (``[]`` if the database has none: that file, applied, then changes nothing)."""
    data = get_classes_properties(db, clss=device_class).to_dict()
    entry: dict[str, Any] = data.get(device_class, {})
    entry.setdefault("properties", {}).setdefault(CLASS_PROPERTY, [])
    return entry
