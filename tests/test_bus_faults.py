"""What a user sees when Redis goes away, is not there yet, or stops answering."""

from __future__ import annotations

import logging
import threading
import time

import redis

from support import wait_for
from support.redis_server import RedisServer, free_port, wait_subscribers
from tango_channels import Channel, ConnectionState


def test_values_survive_a_redis_restart_and_flow_again(own_redis, make_bus, make_peer, unique):
    name = f"{unique}.pos"
    states: list[ConnectionState] = []
    bus = make_bus(own_redis.url)
    assert bus.wait_connected(5)
    bus.add_state_listener(lambda state, error: states.append(state))
    ours = Channel(name, default_value=0, bus=bus)
    assert ours.value == 0
    peer = make_peer(own_redis.url)
    peer.call("open", name=name)
    assert peer.call("get", name=name)["value"] == 0
    peer.call("set", name=name, value=1)
    wait_for(lambda: ours.held.value == 1)

    own_redis.kill()
    wait_for(lambda: bus.state is ConnectionState.DISCONNECTED, what="the outage")
    assert "unreachable since" in bus.describe_state()
    assert ours.value == 1  # the held value is kept
    peer.call("set", name=name, value=2)  # set during the outage: sent once back

    own_redis.start()
    wait_for(lambda: bus.connected, what="reconnection")
    wait_for(lambda: ours.held.value == 2, what="the value set during the outage")
    peer.call("set", name=name, value=3)
    wait_for(lambda: ours.held.value == 3, what="values flowing again")
    assert states[:2] == [ConnectionState.DISCONNECTED, ConnectionState.CONNECTED]


def test_a_holder_is_asked_again_after_reconnecting(own_redis, make_bus, make_peer, unique):
    """Values changed while we could not hear them come back through the re-query."""
    name = f"{unique}.state"
    bus = make_bus(own_redis.url)
    ours = Channel(name, default_value="READY", bus=bus)
    assert ours.value == "READY"
    own_redis.kill()
    wait_for(lambda: not bus.connected)
    own_redis.start()
    holder = make_peer(own_redis.url)  # a newer value, set while we were away
    holder.call("open", name=name, value="MOVING")
    wait_for(lambda: ours.held.value == "MOVING", what="the re-query after reconnecting")


def test_a_bus_cut_off_alone_asks_the_holders_again_when_it_is_back(
    own_redis, make_bus, make_peer, unique
):
    """Only our connections are cut (our Redis user disabled) while the holder stays
    connected: what it set meanwhile comes to us through our query on reconnecting."""
    name = f"{unique}.pos"
    holder = make_peer(own_redis.url)
    holder.call("open", name=name, value=1)
    wait_subscribers(own_redis.url, name)
    bus = make_bus(own_redis.user_url("alone"))
    ours = Channel(name, bus=bus)
    assert ours.value == 1
    with own_redis.locked_out("alone"):
        wait_for(lambda: not bus.connected, what="the cut")
        holder.call("set", name=name, value=2)  # we can't hear this
    wait_for(lambda: ours.held.value == 2, what="the re-query after reconnecting")


def test_redis_down_at_start_is_a_clear_error_then_recovers(tmp_path, make_bus, unique):
    server = RedisServer(tmp_path / "late", port=free_port())
    bus = make_bus(server.url)
    channel = Channel(f"{unique}.x", default_value=5, timeout=0.5, bus=bus)
    try:
        channel.value  # noqa: B018
    except TimeoutError as exc:
        assert f"Channel {unique}.x did not receive a value" in str(exc)
        assert f"Redis at {server.url} unreachable" in str(exc)
    else:
        raise AssertionError("no error while Redis is down")
    assert bus.state is ConnectionState.DISCONNECTED
    assert "Connection refused" in (bus.last_error or "")

    server.start()
    try:
        wait_for(lambda: bus.connected, what="the first connection")
        assert channel.value == 5
    finally:
        server.kill()


def test_a_paused_server_is_detected_by_the_health_check(own_redis, make_bus, unique):
    bus = make_bus(own_redis.url)
    channel = Channel(f"{unique}.x", default_value=1, bus=bus)
    assert channel.value == 1
    own_redis.pause()
    try:
        wait_for(lambda: not bus.connected, what="the health check")
        # Caught by the health check, or by a write that got no answer first.
        assert "did not answer within" in bus.last_error
    finally:
        own_redis.resume()
    wait_for(lambda: bus.connected, what="reconnection")
    channel.value = 2
    assert channel.value == 2


def test_undecodable_messages_are_dropped_logged_and_counted(
    redis_server, bus, make_bus, unique, caplog
):
    name = f"{unique}.x"
    channel = Channel(name, default_value=0, bus=bus)
    assert channel.value == 0
    other = make_bus(redis_server.url)
    raw = redis.Redis.from_url(redis_server.url)
    seen = threading.Event()

    def on_value(value: object) -> None:
        if value == "after":
            seen.set()

    channel.register_callback(on_value)
    with caplog.at_level(logging.WARNING, logger="tango_channels"):
        raw.publish(name, b"\x80\x04garbage")
        other.publish(name, "after")
        assert seen.wait(5)
    raw.close()
    assert bus.stats.decode_errors == 1
    assert bus.stats.decode_errors_by_channel == {name: 1}
    assert any(name in r.getMessage() and "undecodable" in r.getMessage() for r in caplog.records)


def test_oversized_messages_are_dropped_and_the_rest_flows(redis_server, bus, make_bus, unique):
    name = f"{unique}.big"
    channel = Channel(name, default_value=0, bus=bus)
    assert channel.value == 0
    other = make_bus(redis_server.url)
    wait_subscribers(redis_server.url, name)
    other.publish(name, b"x" * (20 * 1024 * 1024))  # above the 16 MiB default limit
    other.publish(name, "small")
    wait_for(lambda: channel.held.value == "small")
    assert bus.stats.decode_errors == 1


def test_restarts_leak_no_threads_or_connections(own_redis, make_bus, unique):
    bus = make_bus(own_redis.url)
    channel = Channel(f"{unique}.x", default_value=0, bus=bus)
    assert channel.value == 0
    threads = threading.active_count()
    for _ in range(5):
        own_redis.kill()
        wait_for(lambda: not bus.connected)
        own_redis.start()
        wait_for(lambda: bus.connected)
    channel.value = 1
    assert threading.active_count() == threads
    clients = own_redis.command("CLIENT", "LIST").decode().splitlines()
    assert len([c for c in clients if "tango-channels" in c]) == 2  # reader and writer


def test_a_server_that_cuts_us_at_once_is_not_hammered(own_redis, make_bus, unique):
    """Redis cuts our subscriber connection each time it is sent more than its pubsub output
    buffer limit (set low here, with messages above it published all the time): the bus
    retries with backoff, not in a tight loop, says why, and stays once it can."""
    name = f"{unique}.x"
    own_redis.command("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32kb 32kb 0")
    stop = threading.Event()

    def flood() -> None:
        raw = redis.Redis.from_url(own_redis.url)
        while not stop.wait(0.005):
            raw.publish(name, b"x" * 100_000)
        raw.close()

    def connections() -> int:
        info = own_redis.command("INFO", "stats").decode()
        return int(info.split("total_connections_received:")[1].split()[0])

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        bus = make_bus(own_redis.url)
        channel = Channel(name, default_value=0, bus=bus)
        wait_for(lambda: bus.stats.reconnects >= 3, what="the first cuts")
        before = connections()
        time.sleep(2.0)  # a window to count attempts in, not a duration asserted
        # Backoff (50 ms doubling up to 2 s): a few attempts, two connections each; without
        # it, one every few milliseconds.
        assert connections() - before < 30
        assert "closed the connection" in (bus.last_error or "")
    finally:
        stop.set()
        flooder.join()
    wait_for(lambda: bus.connected, what="reconnection once the flood stops")
    assert channel.value == 0
