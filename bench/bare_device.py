"""A bare thread-mode PyTango device: the floor the BeaconChannels figures are compared to.

``value`` is a static DevDouble read from memory; ``Start(rate)`` makes a thread (inside
``EnsureOmniThread``, as BeaconChannels' publisher) push change events of ``value`` with
``time.time()`` as their timestamp. With the property ``Attributes`` = N, it makes N dynamic
DevDouble attributes at start (``a00000``...), as BeaconChannels makes one per channel.
"""

from __future__ import annotations

import threading
import time

import tango
from tango.server import Device, attribute, command, device_property


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

    def _push(self, rate: float) -> None:
        with tango.EnsureOmniThread():
            period = 1.0 / rate
            while not self._stop.wait(period):
                self._value += 1.0
                self.push_change_event(
                    "value", self._value, time.time(), tango.AttrQuality.ATTR_VALID
                )


if __name__ == "__main__":
    BareDevice.run_server()
