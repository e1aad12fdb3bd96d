"""``beacon-channels-deploy``: BeaconChannels in a Tango database, from a version-controlled file.

    beacon-channels-deploy apply FILE [--dry-run]    make the database match FILE
    beacon-channels-deploy dump [INSTANCE ...]       the database's BeaconChannels, as a FILE
    beacon-channels-deploy starter INSTANCE ... --host HOST [--level N] [--start-ds-path DIR]
    beacon-channels-deploy launcher DIR              a BeaconChannels launcher for StartDsPath
    beacon-channels-deploy systemd-unit [--user U]   the systemd unit template, for this venv
    beacon-channels-deploy discover BEACON_HOST|REDIS_URL [--dsconfig FILE --beamline NAME]
                                                     what BLISS publishes there (and a FILE)

The database is the one ``TANGO_HOST`` names (or /etc/tangorc). FILE is dsconfig's JSON
format, or YAML reading as the same document (see ``deploy/config.py``). ``apply`` and ``dump``
are dsconfig's (``json2tango -w`` and ``tango2json``), after the checks only this project can
make (``deploy/validate.py``): the diff printed is dsconfig's. A server instance hosts devices of
two classes, ``BeaconChannels`` and ``BeaconAxis`` (one per BLISS axis). Where FILE doesn't set
a class's property ``AllowedAccessCmd`` (the commands that Tango's access control lets
read-only clients run: ``docs/access-control.md``), ``apply`` sets its default,
``device_classes/access.py``.

Exit codes (:data:`EXIT_CODES`): 0 done, or nothing to do; 1 error (unreadable file, a device
the file describes wrongly, database unreachable...), the reason on stderr, one line per
problem; 2 the command line itself is wrong (argparse's usage error, which every argparse
program exits with); 3 ``apply --dry-run`` found changes to make (printed as a diff). A
script can so tell a mistyped command from pending changes. (json2tango says 2 for changes.)
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import stat
import sys
from pathlib import Path

import tango
import yaml
from dsconfig.output import show_actions
from dsconfig.utils import no_colors

from tango_channels_deploy import database, discover
from tango_channels_deploy.config import SERVER, YAML_SUFFIXES, ConfigError, load, to_json
from tango_channels_deploy.validate import problems

log = logging.getLogger("beacon-channels-deploy")

OK, ERROR, USAGE, CHANGES_PENDING = 0, 1, 2, 3
EXIT_CODES = {
    OK: "done, or nothing to do",
    ERROR: "error (the reason on stderr)",
    USAGE: "usage error: the command line is wrong (argparse's)",
    CHANGES_PENDING: "--dry-run found changes",
}
PROG = "beacon-channels-deploy"
UNIT_TEMPLATE = Path(__file__).with_name("systemd") / "beacon-channels@.service"
TEMPLATE_VENV = "/opt/beacon-channels/.venv"


def _database() -> tango.Database:
    try:
        return tango.Database()
    except tango.DevFailed as exc:
        host = os.environ.get("TANGO_HOST") or "(TANGO_HOST not set)"
        raise RuntimeError(f"Tango database {host} unreachable: {exc.args[0].desc}") from None


def apply(path: Path, dry_run: bool) -> int:
    document = load(path)
    found = problems(document)
    if found:  # before the database is even opened: nothing can have been written
        for problem in found:
            sys.stderr.write(f"{PROG}: error: {path}: {problem}\n")
        return ERROR
    plan = database.apply(_database(), document, write=not dry_run)
    if not plan.calls:
        log.info("no changes")
        return OK
    show_actions(plan.original, plan.calls)  # dsconfig's diff, on stdout
    log.info("")
    for line in plan.summary():
        log.info("%s", line)
    if dry_run:
        log.info("dry run: nothing written")
        return CHANGES_PENDING
    log.info("written to the Tango database")
    return OK


def dump(names: list[str], output: Path | None) -> int:
    text = to_json(database.dump(_database(), names))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        log.info("wrote %s", output)
    return OK


def starter(names: list[str], host: str, level: int, start_ds_path: Path | None) -> int:
    """Mark instances as controlled by the Starter of ``host`` (what Astor does)."""
    db = _database()
    for name in names:
        info = tango.DbServerInfo()
        info.name, info.host, info.mode, info.level = f"{SERVER}/{name}", host, 1, level
        db.put_server_info(info)
        log.info("%s: controlled by the Starter of %s, startup level %d", info.name, host, level)
    if start_ds_path is not None:
        device = f"tango/admin/{host}"
        paths = list(db.get_device_property(device, ["StartDsPath"])["StartDsPath"])
        if str(start_ds_path) not in paths:
            db.put_device_property(device, {"StartDsPath": [*paths, str(start_ds_path)]})
            log.info("%s: StartDsPath += %s", device, start_ds_path)
    return OK


def launcher(directory: Path) -> int:
    """A ``BeaconChannels`` executable in ``directory`` that runs this venv's server: the
    Starter looks servers up by name in its StartDsPath."""
    directory.mkdir(parents=True, exist_ok=True)
    target = Path(sys.executable).with_name("BeaconChannels")
    script = directory / SERVER
    script.write_text(
        f'#!/bin/sh\n# BeaconChannels from {Path(sys.prefix)}\nexec "{target}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    log.info("wrote %s; put %s in the Starter's StartDsPath", script, directory)
    return OK


def systemd_unit(user: str | None) -> int:
    text = UNIT_TEMPLATE.read_text().replace(TEMPLATE_VENV, sys.prefix)
    if user:
        text = text.replace("User=tango", f"User={user}")
    sys.stdout.write(text)
    return OK


def discover_command(
    where: str, dsconfig: Path | None, beamline: str | None, timeout: float
) -> int:
    """What BLISS publishes on the Redis ``where`` names (a Beacon's host:port or a URL), as
    tables on stdout; with ``dsconfig``, also a starter deployment file for ``beamline``."""
    try:
        address = discover.redis_address(where, timeout)
    except ValueError as exc:
        raise RuntimeError(f"{where}: {exc}") from None
    # The library's logs (connected, closed, retrying) would only repeat what is said here.
    logging.getLogger("tango_channels").setLevel(logging.ERROR)
    found = discover.discover(address, timeout)
    sys.stdout.write(discover.table(found))
    if dsconfig is None:
        return OK
    assert beamline is not None  # main() says so otherwise
    redis_property = ("RedisUrl", where) if "://" in where else ("BeaconHost", where)
    document, left_out = discover.starter_document(found, beamline, redis_property)
    for line in left_out:
        sys.stderr.write(f"{PROG}: warning: {dsconfig}: left out {line}\n")
    if address.password:
        sys.stderr.write(
            f"{PROG}: warning: {dsconfig}: RedisUrl holds Redis's password, which every "
            "client of the Tango database can read; consider REDIS_URL in the server's "
            "environment instead (docs/deployment.md#systemd)\n"
        )
    text = (
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        if dsconfig.suffix in YAML_SUFFIXES
        else to_json(document)
    )
    dsconfig.write_text(text, encoding="utf-8")
    log.info("")
    log.info("wrote %s; check it, then: %s apply %s --dry-run", dsconfig, PROG, dsconfig)
    return OK


def _beamline(text: str) -> str:
    """A ``--beamline``: a server instance name and a device name's domain."""
    if not re.fullmatch(r"[-\w]+", text):
        raise argparse.ArgumentTypeError(f"{text!r}: letters, digits, _ and - only")
    return text


def argument_parser() -> argparse.ArgumentParser:
    """The command line, as ``main`` parses it (the docs' tests parse the commands shown)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n")[0],
        epilog="Exit codes: "
        + "; ".join(f"{code} {what}" for code, what in EXIT_CODES.items())
        + ".",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("apply", help="make the Tango database match FILE")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    p = commands.add_parser("dump", help="the database's BeaconChannels servers, as a FILE")
    p.add_argument("instances", nargs="*", metavar="INSTANCE", help="default: all")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="default: stdout")
    p = commands.add_parser("starter", help="mark instances as Starter-controlled")
    p.add_argument("instances", nargs="+", metavar="INSTANCE")
    p.add_argument("--host", required=True, help="the Starter's host (short name)")
    p.add_argument("--level", type=int, default=1, metavar="N", help="startup level (default 1)")
    p.add_argument(
        "--start-ds-path",
        type=Path,
        metavar="DIR",
        help="also add DIR to the Starter's StartDsPath",
    )
    p = commands.add_parser("launcher", help="write a BeaconChannels launcher into DIR")
    p.add_argument("directory", type=Path, metavar="DIR")
    p = commands.add_parser("systemd-unit", help="print the systemd unit template")
    p.add_argument("--user", help="the account the server runs as (default tango)")
    p = commands.add_parser("discover", help="list the channels and axes BLISS publishes")
    p.add_argument("where", metavar="BEACON_HOST|REDIS_URL", help="host:port, or a Redis URL")
    p.add_argument("--dsconfig", type=Path, metavar="FILE", help="also write a starter FILE")
    p.add_argument(
        "--beamline",
        type=_beamline,
        metavar="NAME",
        help="the FILE's server instance and device domain (id00: id00/bliss/roby)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="seconds for Redis and for the holders' answers (default 3)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser()
    options = parser.parse_args(argv)
    if options.command == "discover" and options.dsconfig and not options.beamline:
        parser.error("discover --dsconfig needs --beamline")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if not sys.stdout.isatty():
        no_colors()  # dsconfig colours its diff for terminals only
    try:
        if options.command == "apply":
            return apply(options.file, options.dry_run)
        if options.command == "dump":
            return dump(options.instances, options.output)
        if options.command == "starter":
            return starter(options.instances, options.host, options.level, options.start_ds_path)
        if options.command == "launcher":
            return launcher(options.directory)
        if options.command == "discover":
            return discover_command(
                options.where, options.dsconfig, options.beamline, options.timeout
            )
        return systemd_unit(options.user)
    except (ConfigError, RuntimeError, OSError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return ERROR
    except tango.DevFailed as exc:
        sys.stderr.write(f"{PROG}: error: {exc.args[0].desc}\n")
        return ERROR


if __name__ == "__main__":
    sys.exit(main())
