"""Where a device's Redis is, and where that answer came from (Status says both).

The order is BLISS's, with the device's properties first: ``RedisUrl``; Beacon at
``BeaconHost``; then the same two as class properties (the defaults of every device of the
class, as Tango makes class properties); Beacon at ``BEACON_HOST``, then ``REDIS_URL``, from
the server's environment (a systemd unit's ``EnvironmentFile``, for a password the Tango
database should not hold); then ``redis://localhost:6379/0``. No step is silent: the second
value says which one gave the address, so that a device on the wrong Redis shows why in its
Status.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tango_channels.transport.address import DEFAULT_URL, RedisAddress, ask_beacon

__all__ = ["find_redis"]


def find_redis(
    redis_url: str,
    beacon_host: str,
    environ: Mapping[str, str] = os.environ,
    class_properties: Mapping[str, str] | None = None,
) -> tuple[RedisAddress, str]:
    """The address and where it came from (``class_properties``: the class's ``RedisUrl``
    and ``BeaconHost``). Raises :class:`~tango_channels.transport.address.BeaconError`
    (Beacon not answering) or ValueError (a property that is no address)."""
    if redis_url:
        return RedisAddress.from_url(redis_url), "from the RedisUrl property"
    if beacon_host:
        return ask_beacon(beacon_host), f"from Beacon at {beacon_host}, the BeaconHost property"
    defaults = class_properties or {}
    if defaults.get("RedisUrl"):
        return RedisAddress.from_url(defaults["RedisUrl"]), "from the RedisUrl class property"
    if defaults.get("BeaconHost"):
        host = defaults["BeaconHost"]
        return ask_beacon(host), f"from Beacon at {host}, the BeaconHost class property"
    if environ.get("BEACON_HOST"):
        host = environ["BEACON_HOST"]
        return ask_beacon(host), f"from Beacon at {host}, BEACON_HOST in the server's environment"
    if environ.get("REDIS_URL"):
        url = environ["REDIS_URL"]
        return RedisAddress.from_url(url), "from REDIS_URL in the server's environment"
    return RedisAddress.from_url(DEFAULT_URL), (
        "the default: neither RedisUrl nor BeaconHost is set (device or class property), nor "
        "BEACON_HOST or REDIS_URL in the server's environment"
    )
