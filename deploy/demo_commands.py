"""The commands the quick start prints, each one record that it can both print and run.

A command is printed for a person to paste into another terminal, anywhere: executables are
given by absolute path (the quick start's venv, so nothing needs activating) and the Tango
database is in the command itself (``TANGO_HOST=...`` or a ``#dbase=no`` address), never
taken from the environment. The quick start starts the GUI from the very records it prints,
and a test runs the printed text, so what is printed is what works.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Command", "Tools"]


@dataclass(frozen=True)
class Command:
    """``argv`` run with ``env`` added to the caller's environment; :attr:`text` for a shell."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        settings = [f"{name}={shlex.quote(value)}" for name, value in self.env.items()]
        return " ".join([*settings, shlex.join(self.argv)])


@dataclass(frozen=True)
class Tools:
    """How a client outside the quick start reaches the demo device: its name for PyTango and
    for Taurus (which spell a device without database differently: ``tango://h:p/a/b/c#dbase=no``
    and ``tango-nodb://h:p/a/b/c``), and the environment those names need (``TANGO_HOST`` of
    the embedded database)."""

    device: str
    taurus_device: str
    env: dict[str, str]
    bin: Path = Path(sys.executable).parent

    def python(self, code: str) -> Command:
        """``python -c`` with ``d``, a proxy of the device, defined before ``code``."""
        setup = f'import tango; d = tango.DeviceProxy("{self.device}")'
        return Command([str(self.bin / "python"), "-c", f"{setup}; {code}"], self.env)

    def taurus(self, *args: str) -> Command:
        return Command([str(self.bin / "taurus"), *args], self.env)

    def attribute(self, name: str) -> str:
        """The Taurus model of one attribute of the device."""
        return f"{self.taurus_device}/{name}"

    @classmethod
    def without_database(cls, endpoint: str, device: str) -> Tools:
        """Tools of ``device`` served at ``endpoint`` (``host:port``), no database."""
        address = f"{endpoint}/{device}"
        return cls(f"tango://{address}#dbase=no", f"tango-nodb://{address}", {})

    def on(self, device: str) -> Tools:
        """The same tools, for another device of the same server."""
        if self.device.startswith("tango://"):
            endpoint = self.device[len("tango://") :].split("/", 1)[0]
            return Tools.without_database(endpoint, device)
        return Tools(device, device, self.env, self.bin)
