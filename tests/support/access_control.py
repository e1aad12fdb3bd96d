"""Tango's access control (TAC) on a test database, and Tango clients run as other users.

- :func:`start_access_control`: Debian's ``TangoAccessControl`` (package tango-accesscontrol,
  9.3.4) on the MariaDB database of a DataBaseds that ``start-tango-db.sh`` started. tango-db's
  own install SQL has registered its device, ``sys/access_control/1`` (server
  ``TangoAccessControl/1``), and TAC's default rows (user ``*``: any address, write on
  ``*/*/*``). Running, it is not yet the database's access control service: its own
  ``RegisterService`` makes it one (``AccessControl/tango:sys/access_control/1`` in
  ``CtrlSystem/Services``), as Astor does.
- :meth:`AccessControl.sql`: SQL on the database's MariaDB database, for rows written in TAC's
  tables (``access_address``, ``access_device``) as Astor's TAC tool would leave them. TAC
  9.3's own ``AddAddressForUser``/``AddDeviceForUser`` fail on MariaDB's strict mode (Debian
  12's default), "Field 'updated' doesn't have a default value", until the tables get a
  default (``docs/access-control.md``).
- :class:`TangoClient`: ``tango_client.py`` in a process of another OS user. Tango's client
  library sends the name of its effective user (cppTango's ``AccessProxy``); the process gets
  ``setpriv``'s new user, group and no other groups, and one capability,
  ``CAP_DAC_READ_SEARCH``, only so that it can reach this venv's interpreter wherever it lives
  (here under ``/root``, mode 700) and the repository.
"""

from __future__ import annotations

import os
import pwd
import queue
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tango

from support.json_lines import JsonLineProcess
from support.tango_databases import TangoDatabase
from support.tango_device import PROBE, probe_until

SERVER = Path("/usr/lib/tango/TangoAccessControl")
DEVICE = "sys/access_control/1"
CLIENT_SCRIPT = Path(__file__).with_name("tango_client.py")
LOOPBACK = ("-ORBendPoint", "giop:tcp:127.0.0.1:")
# The MariaDB account start-tango-db.sh makes for DataBaseds (TANGO_DB_USER/_PASSWORD).
MYSQL_ACCOUNT = {
    "MYSQL_HOST": "127.0.0.1:3306",
    "MYSQL_USER": os.environ.get("TANGO_DB_USER", "tango"),
    "MYSQL_PASSWORD": os.environ.get("TANGO_DB_PASSWORD", "tango"),
}


@dataclass
class AccessControl:
    """A running TangoAccessControl, the access control service of ``database``."""

    database: TangoDatabase
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def device(self) -> str:
        return f"tango://{self.database.tango_host}/{DEVICE}"

    def sql(self, statements: str) -> None:
        """Run SQL in the database's MariaDB database (as its DataBaseds account)."""
        host, port = MYSQL_ACCOUNT["MYSQL_HOST"].split(":")
        user, name = MYSQL_ACCOUNT["MYSQL_USER"], str(self.database.mysql_database)
        done = subprocess.run(
            ["mysql", "--protocol=tcp", "-h", host, "-P", port, "-u", user, name],
            input=statements,
            env={**os.environ, "MYSQL_PWD": MYSQL_ACCOUNT["MYSQL_PASSWORD"]},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mysql: {done.stderr.strip()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_access_control(database: TangoDatabase, timeout: float = 30) -> AccessControl:
    """TangoAccessControl on ``database`` (a DataBaseds), running, not yet its service."""
    if database.mysql_database is None:
        raise RuntimeError(f"TangoAccessControl needs DataBaseds' MariaDB, not {database.kind}")
    if not SERVER.exists():
        raise RuntimeError(f"{SERVER} missing: Debian's tango-accesscontrol is not installed")
    log = Path(tempfile.mkdtemp(prefix="tango-access-control-")) / "TangoAccessControl.log"
    env = {
        **database.env,
        **MYSQL_ACCOUNT,
        "MYSQL_DATABASE": database.mysql_database,
        "SUPER_TANGO": "true",  # as Debian's init script runs it: it checks no access itself
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(SERVER), "1", *LOOPBACK], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    access = AccessControl(database, process, log)
    deadline = time.monotonic() + timeout
    while True:
        try:
            tango.DeviceProxy(access.device).ping()  # a new proxy per try: a failed one waits
            break
        except tango.DevFailed:
            if process.poll() is not None or time.monotonic() > deadline:
                access.stop()
                why = log.read_text()
                raise RuntimeError(f"TangoAccessControl did not start:\n{why}") from None
            time.sleep(0.1)
    return access


class Refused(Exception):
    """A Tango error the client got: ``reason`` and ``desc`` of its first DevFailed error."""

    def __init__(self, reason: str, desc: str) -> None:
        super().__init__(f"{reason}: {desc}")
        self.reason, self.desc = reason, desc


class TangoClient(JsonLineProcess):
    """``tango_client.py`` on ``device`` as OS ``user`` (this process's own if None), run by
    ``python`` (another venv's: another PyTango)."""

    def __init__(
        self,
        device: str,
        env: dict[str, str],
        user: str | None = None,
        python: str = sys.executable,
    ) -> None:
        argv = [python, str(CLIENT_SCRIPT), "--device", device]
        env = dict(env)
        if user is not None:
            entry = pwd.getpwnam(user)
            argv = [
                "setpriv",
                f"--reuid={entry.pw_uid}",
                f"--regid={entry.pw_gid}",
                "--clear-groups",
                "--inh-caps=+dac_read_search",
                "--ambient-caps=+dac_read_search",
                "--",
                *argv,
            ]
            env.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
        super().__init__(argv, f"Tango client of {device}", env, Path("/"), timeout=60)

    def call(self, cmd: str, timeout: float = 30, check: bool = True, **args: Any) -> Any:
        """The value ``cmd`` returned; :class:`Refused` if Tango refused it."""
        answer = super().call(cmd, timeout, check=False, **args)
        if "error" in answer:
            raise Refused(answer["error"]["reason"], answer["error"]["desc"])
        return answer["value"]

    def command(self, name: str, arg: Any = None) -> Any:
        return self.call("command", name=name, arg=arg)

    def until_events_flow(self, probe: Callable[[], None], timeout: float = 60) -> None:
        """Return once this client's subscriptions are in place at the device's server, as
        :func:`~support.tango_device.until_events_flow` does in this process; ``probe``
        writes the probe's configuration (this client may not: see
        :func:`~support.tango_device.write_probe`, or another client's ``touch``)."""
        self.call("probe", attr=PROBE)
        probe_until(probe, lambda wait: bool(self.call("probed", wait=wait)), self.label, timeout)

    def wait_event(self, matches: Callable[[dict[str, Any]], bool], timeout: float = 20) -> None:
        """Wait for a change event that ``matches`` (``{"attr", "value", "error"}``)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))["event"]
            except queue.Empty:
                raise AssertionError(f"no matching event in {timeout} s; got {seen}") from None
            if matches(event):
                return
            seen.append(event)

    def close(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
