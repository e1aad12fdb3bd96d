"""Real Tango databases for the facility tests: the standard one, and the embedded one.

- ``DataBaseds``: Debian's ``tango-db`` (DataBaseds 9.3.4 on MariaDB), set up by
  ``start-tango-db.sh`` (installs what is missing, a MariaDB database of its own, loopback);
- ``PyDatabaseds``: pytango-db on sqlite, as the quick start uses.

A database that can't be set up fails the tests that need it, saying why: never a silent skip.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tango_channels_deploy.embedded_db import EmbeddedDatabase

SCRIPT = Path(__file__).with_name("start-tango-db.sh")
LOW_PORTS = range(10000, 32768)  # below Linux's ephemeral range, where bind(0) ports come from


@dataclass
class TangoDatabase:
    kind: str
    tango_host: str
    stop: object
    mysql_database: str | None = None  # DataBaseds': its MariaDB database (tango-db's schema)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "TANGO_HOST": self.tango_host}


def free_low_port(tries: int = 100) -> int:
    """A loopback port in ``LOW_PORTS`` that nothing is bound to (tried by binding it).

    Below the ephemeral range so that no port the other servers of the tests get from
    ``bind(0)`` can take it between this test and DataBaseds' own bind.
    """
    for port in random.sample(LOW_PORTS, tries):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port among {tries} tried in {LOW_PORTS}")


def start_databaseds(extra_packages: tuple[str, ...] = ("tango-starter",)) -> TangoDatabase:
    """DataBaseds on a MariaDB database of its own, the Debian ``extra_packages`` installed."""
    port = free_low_port()
    mysql_database = f"tango_test_{port}"
    env = {
        **os.environ,
        "TANGO_DB_NAME": mysql_database,
        "TANGO_DB_RESET": "1",
        "TANGO_DB_EXTRA_PACKAGES": " ".join(extra_packages),
        "TANGO_DB_STATE_DIR": tempfile.mkdtemp(prefix="tango-db-"),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), "start", str(port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"the standard Tango database (DataBaseds on MariaDB) could not be "
            f"set up:\n{done.stderr[-3000:]}"
        )
    tango_host = done.stdout.strip().splitlines()[-1].split("=", 1)[1]

    def stop() -> None:
        subprocess.run(
            ["bash", str(SCRIPT), "drop", str(port)], env=env, capture_output=True, timeout=120
        )

    return TangoDatabase("DataBaseds", tango_host, stop, mysql_database)


def start_pydatabaseds() -> TangoDatabase:
    database = EmbeddedDatabase(Path(tempfile.mkdtemp(prefix="pytango-db-")))
    return TangoDatabase("PyDatabaseds", database.tango_host, database.stop)
