"""Test-side control of peer processes (see ``peer.py``) and of the BLISS peer venv."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from support.json_lines import JsonLineProcess
from support.venvs import cached_venv

PEER_SCRIPT = Path(__file__).with_name("peer.py")
REPO = Path(__file__).resolve().parents[2]

BLISS_VERSION = "2.4.0"
# A Tango 9 client: the last PyTango 9 (its wheels carry cppTango 9.5.0), with the numpy its
# extension was built against.
PYTANGO9_VERSION = "9.5.1"
PYTANGO9_DEPS = [f"pytango=={PYTANGO9_VERSION}", "numpy<2"]
BLISS_DEPS = [
    "redis==4.6.0",
    "gevent<25",
    "greenlet<3.4",
    "numpy<2",
    "tabulate",
    "typing_extensions",
    "beartype<0.23",
    "louie",
    "packaging",
    "prompt_toolkit",
    "networkx",
    "ruamel.yaml<0.20",
    "psutil",
    "msgpack",
    "msgpack_numpy",
    "tblib",
]


class PeerError(AssertionError):
    pass


class Peer(JsonLineProcess):
    """A running ``peer.py``; :meth:`call` sends a command and returns its answer."""

    error = PeerError

    def __init__(
        self,
        python: str,
        redis_url: str,
        impl: str = "tango_channels",
        gevent: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        args = [python, str(PEER_SCRIPT), "--impl", impl, "--redis", redis_url]
        if gevent:
            args.append("--gevent")
        self.impl = impl
        super().__init__(args, f"{impl} peer", {**os.environ, **(env or {})}, REPO)

    def wait_event(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """The first callback event matching ``predicate`` (earlier ones are dropped)."""
        return self.events_until(predicate, timeout)[0]


def bliss_venv() -> Path:
    """The venv holding real BLISS 2.4 for interop tests, built on first use.

    BLISS's channel module works without its heavy extras (issue #2): ``bliss`` without its
    dependencies, then the few modules it imports, with the versions BLISS 2.4 runs.
    """
    return cached_venv(
        f"bliss-peer-{BLISS_VERSION}",
        [["--no-deps", f"bliss=={BLISS_VERSION}"], BLISS_DEPS],
        "import bliss.config.channels",
    )


def pytango9_venv() -> Path:
    """The python of a venv holding PyTango 9.5.1 (cppTango 9.5), a Tango 9 client, built on
    first use and cached, as :func:`bliss_venv` is."""
    return cached_venv(
        f"pytango-{PYTANGO9_VERSION}",
        [["--only-binary=pytango", *PYTANGO9_DEPS]],
        f"import tango; assert tango.__version__ == {PYTANGO9_VERSION!r}",
    )
