"""A BeaconChannels device in its own process, and real event subscriptions to it."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import tango

from support.redis_server import free_port
from tango_channels_deploy.processes import stop_processes

DEVICE = "test/beacon/1"
_instances = 0
BEACON_CHANNELS = shutil.which("BeaconChannels", path=os.path.dirname(sys.executable)) or (
    "BeaconChannels"
)


class RunningDevice(tuple):
    """What :func:`running_device` yields: ``(proxy, access)``, unpacked as such, the
    server's process id in :attr:`pid` (to look at its threads) and its output in :attr:`log`;
    :meth:`address` and :meth:`proxy` give its other devices (BeaconAxis)."""

    pid: int
    log: Path
    port: int

    def __new__(
        cls, proxy: tango.DeviceProxy, access: str, pid: int, log: Path, port: int
    ) -> RunningDevice:
        self = super().__new__(cls, (proxy, access))
        self.pid, self.log, self.port = pid, log, port
        return self

    def address(self, device: str) -> str:
        """The full address of another device of the server, for other processes."""
        return f"tango://127.0.0.1:{self.port}/{device}#dbase=no"

    def proxy(self, device: str) -> tango.DeviceProxy:
        return tango.DeviceProxy(self.address(device))


@contextlib.contextmanager
def running_device(
    properties: dict[str, Any] | None,
    workdir: Path | None = None,
    control_system: dict[str, Any] | None = None,
    attribute_properties: dict[str, dict[str, Any]] | None = None,
    options: tuple[str, ...] = (),
    prefix: tuple[str, ...] = (),
    axes: dict[str, dict[str, Any]] | None = None,
    class_properties: dict[str, dict[str, Any]] | None = None,
) -> Iterator[RunningDevice]:
    """``BeaconChannels <instance>`` started as an operator would (the console script), with a
    file database holding ``properties``, listening on 127.0.0.1 (events need an address).
    Yields a proxy and the device's full address, for other processes and clients (and the
    server's pid, see :class:`RunningDevice`). ``axes``: BeaconAxis devices of the same
    server, by name, with their properties (``properties`` None: none but those; the proxy
    yielded is then the first of them's); ``class_properties``: by class. ``control_system``:
    properties of the free
    object ``CtrlSystem``, Tango's facility-wide settings (``WAttrNaNAllowed``...);
    ``attribute_properties``: of the device's attributes, as Jive or dsconfig set them;
    ``options``: more of the server's command line (``-v4``); ``prefix``: a command that
    execs the server (``unshare --time ...``)."""
    global _instances
    _instances += 1
    instance = f"t{os.getpid()}x{_instances}"
    workdir = Path(workdir or tempfile.mkdtemp(prefix="beacon-channels-"))
    db_file = workdir / f"{instance}.db"
    declared = ""
    if properties is not None:
        declared += f"BeaconChannels/{instance}/DEVICE/BeaconChannels: {DEVICE}\n"
    if axes:
        declared += f"BeaconChannels/{instance}/DEVICE/BeaconAxis: {', '.join(axes)}\n"
    db_file.write_text(declared)
    database = tango.Database(str(db_file))
    if properties is not None:
        database.put_device_property(DEVICE, _property_values(properties))
    for name, axis_properties in (axes or {}).items():
        if axis_properties:
            database.put_device_property(name, _property_values(axis_properties))
    for cls, values in (class_properties or {}).items():
        database.put_class_property(cls, _property_values(values))
    first = DEVICE if properties is not None else next(iter(axes or {}))
    if control_system:
        database.put_property("CtrlSystem", _property_values(control_system))
    if attribute_properties:
        database.put_device_attribute_property(
            DEVICE, {a: _property_values(p) for a, p in attribute_properties.items()}
        )
    port = free_port()
    log_path = workdir / f"{instance}.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                *prefix,
                BEACON_CHANNELS,
                instance,
                f"-file={db_file}",
                "-ORBendPoint",
                f"giop:tcp:127.0.0.1:{port}",
                *options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # a crash leaves its traceback
        )
    access = f"tango://127.0.0.1:{port}/{first}#dbase=no"
    try:
        proxy = _wait_for_device(access, server, log_path)
        for name in axes or {}:  # exported one after the other: each may still be starting
            _wait_for_device(f"tango://127.0.0.1:{port}/{name}#dbase=no", server, log_path)
        yield RunningDevice(proxy, access, server.pid, log_path, port)
    finally:
        stop_processes([server], timeout=15)


def _property_values(properties: dict[str, Any]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [str(v)] for k, v in properties.items()}


def _wait_for_device(access: str, server: subprocess.Popen[bytes], log: Path) -> tango.DeviceProxy:
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            raise RuntimeError(
                f"BeaconChannels exited ({server.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            proxy = tango.DeviceProxy(access)  # a new proxy: a failed one waits a second
            proxy.ping()
            return proxy
        except tango.DevFailed:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"BeaconChannels did not start:\n{log.read_text()[-3000:]}"
                ) from None
            time.sleep(0.1)


PROBE = "Status"  # every device has it, and no test follows its configuration's events
PROBE_AGAIN = 0.2  # seconds before a probe lost like any early event is made again


def until_events_flow(proxy: tango.DeviceProxy, timeout: float = 60) -> None:
    """Return once this process's subscriptions to ``proxy``'s server are in place there.

    ``subscribe_event`` returns before ZeroMQ has carried the subscription to the server's
    publisher (cppTango sleeps half a millisecond for it, its issue #524), and the publisher
    drops what it sends before then: an event pushed in that window is lost for this client,
    by Tango, whatever the device does. On a machine with a core taken the window is tens of
    milliseconds, and a test that changes a value right after subscribing misses it.

    A process's subscriptions to one server travel in order on one connection, so once an
    event of a later subscription arrives, the earlier ones are in place: this subscribes to
    the configuration events of :data:`PROBE` and writes its configuration back unchanged,
    which pushes one, until one arrives."""
    arrived: queue.Queue[tango.EventData] = queue.Queue()
    probe = proxy.subscribe_event(PROBE, tango.EventType.ATTR_CONF_EVENT, arrived.put)

    def came(wait: float) -> bool:
        try:
            return not arrived.get(timeout=wait).err
        except queue.Empty:
            return False

    try:
        arrived.get(timeout=10)  # the configuration read at subscription, not through ZeroMQ
        probe_until(write_probe(proxy), came, "this process", timeout)
    finally:
        proxy.unsubscribe_event(probe)


def probe_until(
    write: Callable[[], None], came: Callable[[float], bool], client: str, timeout: float
) -> None:
    """Push a probe event (``write``) until ``came(wait)`` says one reached ``client``
    within ``wait`` seconds: a probe is lost like any early event, so it is made again."""
    deadline = time.monotonic() + timeout
    while True:
        write()
        if came(PROBE_AGAIN):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no probe event reached {client} in {timeout} s")


def write_probe(proxy: tango.DeviceProxy) -> Callable[[], None]:
    """What pushes a configuration event of :data:`PROBE`: its configuration written back
    unchanged (for :func:`until_events_flow`)."""
    config = proxy.get_attribute_config_ex(PROBE)
    return lambda: proxy.set_attribute_config(config)


class Events:
    """Events of one attribute, from a real ``subscribe_event``, in a queue; returns once
    events flow (:func:`until_events_flow`), as a test goes on to make some at once."""

    def __init__(
        self,
        proxy: tango.DeviceProxy,
        attribute: str,
        kind: tango.EventType = tango.EventType.CHANGE_EVENT,
    ) -> None:
        self.queue: queue.Queue[tango.EventData] = queue.Queue()
        self.seen: list[tango.EventData] = []  # every event, in the order they came
        self.proxy = proxy
        self.id = proxy.subscribe_event(attribute, kind, self._received)
        until_events_flow(proxy)

    def _received(self, event: tango.EventData) -> None:
        self.seen.append(event)
        self.queue.put(event)

    def next(self, timeout: float = 10) -> tango.EventData:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s") from None

    def wait(
        self, predicate: Callable[[tango.EventData], bool], timeout: float = 10
    ) -> tango.EventData:
        """The first event matching ``predicate`` (others before it are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.0, deadline - time.monotonic()))
            if predicate(event):
                return event

    def value_is(self, expected: Any) -> Callable[[tango.EventData], bool]:
        def check(event: tango.EventData) -> bool:
            return not event.err and _equal(event.attr_value.value, expected)

        return check

    def close(self) -> None:
        with contextlib.suppress(tango.DevFailed):
            self.proxy.unsubscribe_event(self.id)


def outcome(proxy: tango.DeviceProxy, attribute: str) -> tuple[Any, Any]:
    """``(value, quality)`` of a read, or ``("error", description)`` when it raises."""
    try:
        read = proxy.read_attribute(attribute)
    except tango.DevFailed as exc:
        return "error", exc.args[0].desc
    return read.value, read.quality


def shows(proxy: tango.DeviceProxy, attribute: str, value: Any) -> bool:
    """Whether the attribute reads ``value``, VALID."""
    return outcome(proxy, attribute) == (value, tango.AttrQuality.ATTR_VALID)


def _equal(value: Any, expected: Any) -> bool:
    import numpy

    if isinstance(value, numpy.ndarray) or isinstance(expected, numpy.ndarray):
        return numpy.array_equal(value, expected)
    return value == expected
