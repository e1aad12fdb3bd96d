"""BeaconAxis: one BLISS axis as a Tango motor device (Position, State, Stop, Abort).

    BeaconChannels <instance> [Tango options]     (the same server as BeaconChannels)

The Tango world knows a motor as one device: Sardana's ``Motor``, BLISS's own ``axis_ds`` and
its ``tango_attr_as_motor`` client, Taurus forms, per-device alarm and archiving configuration,
Jive's device tree. A BeaconAxis device shows one BLISS axis that way, in the attribute names
those clients use: ``Position`` (the user position; its ``min_value`` and ``max_value`` are
BLISS's low and high limits), ``DialPosition``, ``SetPosition`` (BLISS's target), ``Offset``,
``Sign``, ``Velocity``, ``Acceleration``, ``Backlash``, ``StepsPerUnit``, ``Limit_Switches``
(home, upper, lower), ``State`` (READY -> ON, MOVING, a limit switch -> ALARM, FAULT, OFF,
DISABLED -> DISABLE; nobody holding the axis -> UNKNOWN) and ``Status`` (BLISS's state names,
who holds the axis, why a value is missing), and the commands ``Stop`` and ``Abort`` (BLISS's
``move_stop``, as ``StopAxes`` does).

It moves nothing: moves belong to the BLISS session that owns the axis, and a write of
``Position`` is refused saying so. Every value BLISS publishes on the axis's channels is pushed
as change and archive events (alarm events too: ``State``, ``Limit_Switches``, and ``Position``
on a limit), at the time BLISS set it; while no session holds the axis, its settings hash
(``axis.<name>``) is shown, as BLISS persisted it.

The device is thin: an :class:`~tango_channels_device.bridge.devices.AxisBridge` says what it
shows, the server's shared publisher pushes it (:class:`~tango_channels_device.tango_axis.
AxisAttributes`), and :class:`~tango_channels_device.bridged.BridgedDevice` finds Redis, shows
Status and keeps the audit trail.
"""

from __future__ import annotations

from typing import Any

from tango import AttrWriteType, DevState, DispLevel
from tango.server import attribute, command, device_property

from tango_channels.transport.address import RedisAddress

from .bridge import commands
from .bridge.axis_names import axis_name_error, default_axis
from .bridge.devices import AxisBridge
from .bridged import BridgedDevice
from .tango_axis import AxisAttributes

__all__ = ["BeaconAxis"]

_EVENTS = (
    "Position",
    "DialPosition",
    "SetPosition",
    "Offset",
    "Sign",
    "Velocity",
    "Acceleration",
    "Backlash",
    "StepsPerUnit",
    "Limit_Switches",
    "State",
    "Status",
    "CommandsRun",
)


def _float(name: str, doc: str, **kwargs: Any) -> Any:
    """A read-only DevDouble attribute of the axis, read from its record."""

    def read(self: BeaconAxis) -> Any:
        return self.axis_attributes.read(name)

    read.__name__ = name
    return attribute(
        fget=read, name=name, dtype=float, format="%.4f", doc=doc, **kwargs
    )


class BeaconAxis(BridgedDevice):
    """One BLISS axis (its ``axis.<name>.*`` channels and settings hash) as a Tango motor."""

    Axis = device_property(
        dtype=str,
        default_value="",
        doc="The BLISS axis name. Empty: the last member of the device name (id00/bliss/roby "
        "-> roby).",
    )

    axis_attributes: AxisAttributes
    # Its attributes are static: nothing to wait for at start (a hundred motor devices start
    # one after the other); State says UNKNOWN until its axis's state comes.
    initial_wait = 0.0

    # ------------------------------------------------------------------ life cycle
    def first_init(self) -> None:
        self.axis_attributes = AxisAttributes(self, self.shared.limits)
        for name in _EVENTS:
            self.set_change_event(name, True, False)
            if name != "Status":
                self.set_archive_event(name, True, False)
            if name not in ("Status", "CommandsRun"):
                self.set_alarm_event(name, True, False)

    def axis(self) -> str:
        return self.Axis or default_axis(self.get_name())

    def make_bridge(self, address: RedisAddress, source: str) -> AxisBridge:
        self.set_state(DevState.UNKNOWN)
        self.set_status(f"Starting: asking BLISS for axis {self.axis()}.")
        axis = self.axis()
        why = axis_name_error(axis)
        if why is not None:
            where = "its Axis property" if self.Axis else "the last member of its name"
            raise ValueError(f"{axis!r} ({where}) is not a BLISS axis name: {why}")
        bridge = AxisBridge(self.get_name(), self.axis_attributes, address, source, axis)
        self.axis_attributes.bridge = bridge
        return bridge

    def configuration(self) -> str:
        return f"axis {self.axis()}"

    def closing(self) -> None:
        self.axis_attributes.closed = True

    # ------------------------------------------------------------------ the motor
    @attribute(
        dtype=float,
        access=AttrWriteType.READ_WRITE,
        format="%.4f",
        doc="The user position (BLISS's position). Its min_value and max_value are BLISS's "
        "low and high limits; its write value is BLISS's target. Writes are refused: moves "
        "belong to the BLISS session that owns the axis.",
    )
    def Position(self) -> Any:
        return self.axis_attributes.read("Position")

    @Position.write  # type: ignore[no-redef]
    def Position(self, value: float) -> None:
        axis = self.axis()
        self._audit(
            f"write Position = {value!r} (axis {axis})",
            lambda: _refuse_move(axis),
            lambda _: "",
            doing=f"axis {axis} not moved",
            origin="BeaconAxis.write",
        )

    DialPosition = _float("DialPosition", "The dial position (BLISS's dial_position).")
    SetPosition = _float("SetPosition", "BLISS's target: where the last move goes or went.")
    Offset = _float("Offset", "User position = sign x dial position + offset.")
    Velocity = _float("Velocity", "BLISS's velocity, in user units per second.")
    Acceleration = _float("Acceleration", "BLISS's acceleration, in user units per second².")
    Backlash = _float("Backlash", "BLISS's backlash, in user units.")
    StepsPerUnit = _float(
        "StepsPerUnit", "Motor steps per user unit (BLISS's steps_per_unit).",
        display_level=DispLevel.EXPERT,
    )

    @attribute(dtype="DevLong64", doc="+1 or -1: user position = sign x dial + offset.")
    def Sign(self) -> Any:
        return self.axis_attributes.read("Sign")

    @attribute(
        dtype=(bool,),
        max_dim_x=3,
        doc="The axis's switches, as Sardana's motors give them: home, upper (LIMPOS), lower "
        "(LIMNEG); ALARM quality on a limit.",
    )
    def Limit_Switches(self) -> Any:
        return self.axis_attributes.read("Limit_Switches")

    @attribute(
        dtype="DevLong64",
        display_level=DispLevel.EXPERT,
        doc="Commands run that changed what BLISS sees (Stop, Abort, Init); the log says who "
        "ran each.",
    )
    def CommandsRun(self) -> int:
        return int(self.commands_run)

    @command()
    def Stop(self) -> None:
        """Ask BLISS to stop the axis if it moves, as a BLISS process stops a move started by
        another one (``axis.<name>.move_stop`` set True; published, not held); nothing if it
        does not move (BLISS's ``Axis.stop`` returns at once then)."""
        self._stop("Stop")

    @command()
    def Abort(self) -> None:
        """As ``Stop``: BLISS has one way to stop a move started elsewhere."""
        self._stop("Abort")

    def _stop(self, name: str) -> None:
        publisher, bridge = self.running()
        axis = self.axis()
        bus = self.bus()

        def stop() -> bool:
            if not publisher.call(lambda: publisher.moving(bridge, axis)):
                return False
            commands.stop_axis(bus, axis)
            return True

        self._audit(
            f"{name}({axis})",
            stop,
            lambda asked: f"asked axis {axis} to stop" if asked else f"axis {axis} not moving",
        )


def _refuse_move(axis: str) -> None:
    raise PermissionError(
        f"moves of axis {axis} belong to the BLISS session that owns it; this device shows "
        "the axis and stops it (Stop, Abort), it does not move it"
    )

