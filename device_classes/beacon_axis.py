"""BeaconAxis: one BLISS axis as a Tango motor device (Position, State, Stop, Abort).

    BeaconChannels <instance> [Tango options]     (the same server as BeaconChannels)

A skeleton: the properties only, so that the deployment tool knows the class. The device
itself comes with the device half that hosts many devices (issue 22).
"""

from __future__ import annotations

from tango.server import Device, device_property

__all__ = ["BeaconAxis"]


class BeaconAxis(Device):
    """One BLISS axis (its ``axis.<name>.*`` channels and settings hash) as a Tango motor."""

    Axis = device_property(
        dtype=str,
        default_value="",
        doc="The BLISS axis name. Empty: the last member of the device name (id00/bliss/roby "
        "-> roby).",
    )
    RedisUrl = device_property(
        dtype=str,
        default_value="",
        doc="redis://host:port/db or unix:///path. Empty: BeaconHost, else BEACON_HOST, "
        "REDIS_URL, redis://localhost:6379/0.",
    )
    BeaconHost = device_property(
        dtype=str,
        default_value="",
        doc="host:port of the Beacon server to ask for its Redis address (as BLISS does).",
    )
