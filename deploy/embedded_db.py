"""An embedded Tango database (pytango-db's ``PyDatabaseds``, sqlite): pip-only, and clients
use it through ``TANGO_HOST`` exactly as they would the facility's DataBaseds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tango_channels_deploy.ports import free_port
from tango_channels_deploy.processes import stop_processes


class EmbeddedDatabase:
    """``PyDatabaseds 2`` on 127.0.0.1:``port`` with its sqlite file in ``workdir``."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.tango_host = f"127.0.0.1:{self.port}"
        executable = shutil.which("PyDatabaseds", path=os.path.dirname(sys.executable))
        if executable is None:
            raise RuntimeError("PyDatabaseds not found: pip install pytango-db")
        env = {
            **os.environ,
            "PYTANGO_DATABASE_NAME": str(workdir / "tango_database.db"),
            "TANGO_HOST": self.tango_host,
        }
        self.log = workdir / "databaseds.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [executable, "--host", "127.0.0.1", "--port", str(self.port), "2"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait()

    def _wait(self) -> None:
        import tango

        deadline = time.monotonic() + 60
        while True:
            try:
                tango.Database("127.0.0.1", self.port).get_info()
                return
            except tango.DevFailed:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the embedded Tango database did not start: {self.log.read_text()[-1500:]}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        stop_processes([self.process], timeout=10)
