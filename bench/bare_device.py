"""A bare thread-mode PyTango device: the floor the BeaconChannels figures are compared to.

``value`` is a static DevDouble read from memory; ``Start(rate)`` makes a thread (inside
``EnsureOmniThread``, as BeaconChannels' publisher) push change events of ``value`` with
``time.time()`` as their timestamp. With the property ``Attributes`` = N, it makes N dynamic
DevDouble attributes at start (``a00000``...), as BeaconChannels makes one per channel.

``--motors`` (first argument) also runs ``BareMotor``: a motor device with BeaconAxis's static
attributes, each read from memory, and Stop and Abort: the floor of a server of motor
devices (``bench/many_devices.py``).
"""

from __future__ import annotations

import sys
import threading
import time

import tango
from tango.server import Device, attribute, command, device_property, run


class BareDevice(Device):
    Attributes = device_property(dtype=int, default_value=0)

    def init_device(self) -> None:
        super().init_device()
        self._value = 0.0
        self._stop = threading.Event()
        self.set_change_event("value", True, False)
        for i in range(self.Attributes):
            attr = tango.Attr(f"a{i:05d}", tango.CmdArgType.DevDouble, tango.AttrWriteType.READ)
            attr.set_change_event(True, False)
            self.add_attribute(attr, r_meth=self.read_dynamic)
        self.set_state(tango.DevState.ON)

    def read_dynamic(self, attr: tango.Attribute) -> tuple[float, float, tango.AttrQuality]:
        return self._value, time.time(), tango.AttrQuality.ATTR_VALID

    @attribute(dtype=float)
    def value(self) -> float:
        return self._value

    @command(dtype_in=float)
    def Start(self, rate: float) -> None:
        self._stop.clear()
        threading.Thread(target=self._push, args=(rate,), daemon=True).start()

    @command
    def Stop(self) -> None:
        self._stop.set()

    @command(dtype_in=(float,))
    def Flood(self, args: list[float]) -> None:
        """[rate, seconds, final, threads]: push change events of every dynamic attribute
        at ``rate`` values/s each for ``seconds``, from ``threads`` threads sharing them (as
        flood.py's publisher processes share the channels), then ``final`` on each: the
        floor of bench/flood.py."""
        rate, seconds, final, threads = args[0], args[1], args[2], int(args[3])
        names = [f"a{i:05d}" for i in range(self.Attributes)]
        for k in range(threads):
            threading.Thread(
                target=self._flood, args=(names[k::threads], rate, seconds, final), daemon=True
            ).start()

    def _flood(self, names: list[str], rate: float, seconds: float, final: float) -> None:
        with tango.EnsureOmniThread():
            sent, started, step = 0, time.monotonic(), 1.0 / rate
            while time.monotonic() - started < seconds:
                sent += 1  # a new value on every attribute; no pause when behind
                for name in names:
                    self.push_change_event(
                        name, float(sent), time.time(), tango.AttrQuality.ATTR_VALID
                    )
                time.sleep(max(0.0, started + sent * step - time.monotonic()))
            for name in names:
                self.push_change_event(name, final, time.time(), tango.AttrQuality.ATTR_VALID)

    def _push(self, rate: float) -> None:
        with tango.EnsureOmniThread():
            period = 1.0 / rate
            while not self._stop.wait(period):
                self._value += 1.0
                self.push_change_event(
                    "value", self._value, time.time(), tango.AttrQuality.ATTR_VALID
                )


def _motor_attribute(name: str, dtype: object = float, **kwargs: object) -> attribute:
    def read(self: BareMotor) -> object:
        return self.values[name]

    read.__name__ = name
    return attribute(fget=read, name=name, dtype=dtype, **kwargs)


class BareMotor(Device):
    """A Tango motor's attributes, read from memory (see the module docstring)."""

    Position = _motor_attribute("Position", access=tango.AttrWriteType.READ_WRITE)
    DialPosition = _motor_attribute("DialPosition")
    SetPosition = _motor_attribute("SetPosition")
    Offset = _motor_attribute("Offset")
    Sign = _motor_attribute("Sign", "DevLong64")
    Velocity = _motor_attribute("Velocity")
    Acceleration = _motor_attribute("Acceleration")
    Backlash = _motor_attribute("Backlash")
    StepsPerUnit = _motor_attribute("StepsPerUnit")
    Limit_Switches = _motor_attribute("Limit_Switches", (bool,), max_dim_x=3)

    def init_device(self) -> None:
        super().init_device()
        self.values: dict[str, object] = {n: 1.0 for n in ("Position", "DialPosition")}
        self.values.update(SetPosition=1.0, Offset=0.0, Sign=1, Velocity=1.0, Acceleration=1.0)
        self.values.update(Backlash=0.0, StepsPerUnit=1.0, Limit_Switches=[False] * 3)
        for name in self.values:
            self.set_change_event(name, True, False)
        self.set_state(tango.DevState.ON)

    def write_Position(self, value: float) -> None:
        tango.Except.throw_exception("ReadOnly", "not moved", "BareMotor")

    @command
    def Stop(self) -> None:
        pass

    @command
    def Abort(self) -> None:
        pass


if __name__ == "__main__":
    if sys.argv[1:2] == ["--motors"]:
        run((BareDevice, BareMotor), args=["BareDevice", *sys.argv[2:]])
    else:
        BareDevice.run_server()
