"""Fixtures: real Redis servers started by the tests, peer processes, the BLISS peer."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.bridges import Bridges
from support.peers import Peer, bliss_venv, pytango9_venv
from support.redis_server import RedisServer
from tango_channels import Bus


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server shared by the tests that don't stop it (names keep tests apart)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of this test alone, to kill, restart or pause."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.kill()


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A channel-name prefix of this test, so that tests sharing a server don't meet."""
    return re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60] + f"_{time.monotonic_ns()}"


@pytest.fixture
def make_bus() -> Iterator[Callable[..., Bus]]:
    """Buses of this test, closed at its end."""
    buses: list[Bus] = []

    def make(redis: str, **kwargs: object) -> Bus:
        bus = Bus(redis, **kwargs)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.close()


@pytest.fixture
def bus(redis_server: RedisServer, make_bus: Callable[..., Bus]) -> Bus:
    bus = make_bus(redis_server.url)
    assert bus.wait_connected(5)
    return bus


@pytest.fixture
def bridges(redis_server, make_bus) -> Iterator[Bridges]:
    """The server's publisher in this process, its devices' Tango halves fake sinks."""
    made = Bridges(redis_server.url, make_bus)
    yield made
    made.stop()


@pytest.fixture
def make_peer() -> Iterator[Callable[..., Peer]]:
    """Peer processes of this test (see tests/support/peer.py), stopped at its end."""
    peers: list[Peer] = []

    def make(
        redis_url: str,
        impl: str = "tango_channels",
        gevent: bool = False,
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Peer:
        peer = Peer(python or sys.executable, redis_url, impl=impl, gevent=gevent, env=env)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.fixture(scope="session")
def bliss_python() -> str:
    """The python of a venv with real BLISS 2.4.0 (built on first use, then cached).

    Skips when it can't be built (no package index reachable), unless
    TANGO_CHANNELS_REQUIRE_BLISS=1 (as in CI), where that is a failure.
    """
    try:
        return str(bliss_venv())
    except Exception as exc:
        if os.environ.get("TANGO_CHANNELS_REQUIRE_BLISS") == "1":
            pytest.fail(f"the BLISS peer venv is required but could not be built: {exc}")
        pytest.skip(f"BLISS peer venv could not be built (no package index?): {exc}")


@pytest.fixture(scope="session")
def tango9_python() -> str:
    """The python of a venv with PyTango 9.5.1, a Tango 9 client (built on first use, then
    cached). Skips or fails as :func:`bliss_python` does."""
    try:
        return str(pytango9_venv())
    except Exception as exc:
        if os.environ.get("TANGO_CHANNELS_REQUIRE_BLISS") == "1":
            pytest.fail(f"the PyTango 9 client venv is required but could not be built: {exc}")
        pytest.skip(f"PyTango 9 client venv could not be built (no package index?): {exc}")


@pytest.fixture(scope="session", params=["DataBaseds", "PyDatabaseds"])
def tango_database(request: pytest.FixtureRequest):
    """A real Tango database: the standard DataBaseds on MariaDB, and pytango-db's."""
    from support.tango_databases import start_databaseds, start_pydatabaseds

    try:
        database = (start_databaseds if request.param == "DataBaseds" else start_pydatabaseds)()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield database
    database.stop()
