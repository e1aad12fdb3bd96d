"""Finding Redis: URLs, clients, and Beacon (asked the way BLISS asks it)."""

from __future__ import annotations

import socket

import pytest
import redis

from support.beacon_stub import BeaconStub
from support.redis_server import RedisServer
from tango_channels import Bus, Channel, RedisAddress
from tango_channels.transport.address import BeaconError, resolve


@pytest.fixture
def unix_redis(tmp_path):
    server = RedisServer(tmp_path / "redis", unix_socket=True).start()
    yield server
    server.kill()


def test_urls_and_clients():
    assert resolve("redis://h:1234/2") == RedisAddress(host="h", port=1234, db=2)
    assert resolve("unix:///run/redis.sock?db=1") == RedisAddress(path="/run/redis.sock", db=1)
    assert resolve(redis.Redis(host="h2", port=7)) == RedisAddress(host="h2", port=7)
    assert str(resolve("redis://:secret@h:1/0")) == "redis://h:1/0"  # no password in logs


def test_environment_order(monkeypatch):
    monkeypatch.delenv("BEACON_HOST", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert resolve(None) == RedisAddress("localhost", 6379)
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:7000/0")
    assert resolve(None) == RedisAddress("elsewhere", 7000)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_channels_work_through_beacon(monkeypatch, redis_server, unix_redis, unique, transport):
    if transport == "tcp":
        stub = BeaconStub(f"127.0.0.1:{redis_server.port}")
    else:
        stub = BeaconStub(f"{socket.gethostname()}:{unix_redis.socket_path}")
    monkeypatch.setenv("BEACON_HOST", f"127.0.0.1:{stub.port}")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # Beacon comes first
    try:
        bus = Bus()
        try:
            assert bus.wait_connected(5)
            assert Channel(f"{unique}.x", default_value="via beacon", bus=bus).value == (
                "via beacon"
            )
        finally:
            bus.close()
    finally:
        stub.close()
    assert stub.requests[0] == bytes([0x1E, 0, 0, 0, 0, 0, 0, 0])


def test_an_unreachable_beacon_is_a_clear_error(monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    monkeypatch.setenv("BEACON_HOST", f"127.0.0.1:{port}")
    with pytest.raises(BeaconError, match=f"Beacon at 127.0.0.1:{port} unreachable"):
        resolve(None)
