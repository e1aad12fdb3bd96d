"""``beacon-channels-deploy discover``: what BLISS publishes on a beamline's Redis, looked at
as BLISS looks.

BLISS channels are listed nowhere: a channel exists while a process subscribes to it, and its
value lives only in those processes' memory. So :func:`discover` asks Redis and the processes,
the way a newcomer BLISS process would, and nothing else:

- the live channels: ``PUBSUB CHANNELS``, and ``PUBSUB NUMSUB`` for how many processes
  subscribe to each (taken before this command subscribes to anything, so it counts BLISS
  sessions and mirrors such as a running BeaconChannels device, never itself);
- each value: a *mirror* :class:`~tango_channels.channel.Channel` per channel, which asks the
  holders for the value as BLISS does (a query) and never offers one (it answers a query with
  None, and adopts no default), so that no BLISS process can tell it from a process that
  looked and left. Values are decoded by the library's guarded decoder
  (:mod:`tango_channels.wire.decode`): no code from the wire runs, a BLISS object stays an
  inert :class:`~tango_channels.wire.opaque.Opaque`. All channels are closed before the command
  ends;
- BLISS's event channels (:data:`EVENT_CHANNELS`: ``config.<axis>``, ``__EVENT__:<name>``...)
  are listed but not asked: BLISS answers a query on an event channel with the events it has
  not sent yet, which its other listeners would then never receive;
- the axes: the live ``axis.<name>.*`` channels, and the settings hashes ``axis.<name>``
  (``SCAN``, never ``KEYS``), which BLISS keeps while no session runs.

What was found is a :class:`Discovery`: :func:`table` shows it to a person, and
:func:`starter_document` makes a deployment file of it (a ``BeaconChannels`` device whose
``Channels`` lines carry the ``type=`` each value gives, an ``Axes`` line per axis, and a
``BeaconAxis`` device per axis named ``<beamline>/bliss/<axis>``). Tango-free: one Redis
connection pair of the library's own (a :class:`~tango_channels.bus.Bus`), no redis-py.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import threading
import time
from dataclasses import dataclass
from typing import Any

from tango_channels import Bus, Channel, Opaque
from tango_channels.transport.address import RedisAddress, ask_beacon
from tango_channels_deploy.config import AXIS_CLASS, SERVER
from tango_channels_device.access import BY_CLASS, CLASS_PROPERTY
from tango_channels_device.bridge.axes import (
    AXIS_SETTINGS,
    axis_state_names,
    is_axis_state,
    move_stop_channel,
)
from tango_channels_device.bridge.axis_names import axis_name_error, device_name
from tango_channels_device.bridge.kinds import infer_kind
from tango_channels_device.bridge.lines import LineError, parse_line

__all__ = [
    "EVENT_CHANNELS",
    "Discovery",
    "FoundAxis",
    "FoundChannel",
    "channels_device_name",
    "discover",
    "redis_address",
    "starter_document",
    "table",
]

#: BLISS 2.4's event channels (``EventChannel``): ``config.<axis>`` (``motor_config.py``),
#: ``__EVENT__:<object>`` (``beacon_object.py``, Lima2), ``<session>:esrf_data_policy``.
EVENT_CHANNELS = ("config.*", "__EVENT__:*", "*:esrf_data_policy")
_AXIS_CHANNEL = re.compile(r"axis\.(?P<axis>[^.]+)\.(?P<setting>.+)", re.DOTALL)
_SHOWN_BY_AXES = frozenset(setting.name for setting in AXIS_SETTINGS)
_SCAN_COUNT = 1000
_PREVIEW = 40  # characters of a value shown in the table


@dataclass(frozen=True)
class FoundChannel:
    """A live channel: its name, how many processes subscribe to it, and what its value is.

    ``kind`` is the ``type=`` its value gives
    (:func:`~tango_channels_device.bridge.kinds.infer_kind`), None when there is no value to
    tell (``value`` then says why)."""

    name: str
    processes: int
    kind: str | None
    value: str
    event: bool = False


@dataclass(frozen=True)
class FoundAxis:
    """A BLISS axis: whether its settings hash exists, and how many of its channels are live
    (0: no session holds it now)."""

    name: str
    settings_hash: bool
    live_channels: int


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found on the Redis at ``address``."""

    address: RedisAddress
    channels: tuple[FoundChannel, ...]
    axes: tuple[FoundAxis, ...]


def redis_address(where: str, timeout: float = 3.0) -> RedisAddress:
    """``where`` as a Redis address: a ``redis://`` or ``unix://`` URL, or a Beacon's
    ``host:port``, asked for its Redis as BLISS asks (raises ValueError, ConnectionError)."""
    if "://" in where:
        return RedisAddress.from_url(where)
    return ask_beacon(where, timeout)


def is_event_channel(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EVENT_CHANNELS)


def discover(address: RedisAddress, timeout: float = 3.0) -> Discovery:
    """Look at the Redis at ``address`` (see the module docstring). ``timeout`` bounds the
    connection, each round trip, and the wait for the holders' answers. Raises
    ConnectionError when Redis can't be reached."""
    bus = Bus(address, timeout=timeout, client_name="beacon-channels-deploy-discover")
    try:
        if not bus.wait_connected(timeout):
            raise ConnectionError(bus.describe_state())
        names = bus.live_channels()
        counts = _numsub(bus, names)
        hashes = _axes_with_a_hash(bus)
        asked = [name for name in names if not is_event_channel(name)]
        values, errors = _ask(bus, asked, timeout)
    finally:
        bus.close()
    channels = tuple(
        _found(name, counts.get(name, 0), values.get(name), errors.get(name), timeout)
        for name in names
    )
    live: dict[str, int] = {}
    for name in names:
        match = _AXIS_CHANNEL.fullmatch(name)
        if match:
            live[match["axis"]] = live.get(match["axis"], 0) + 1
    axes = tuple(
        FoundAxis(axis, axis in hashes, live.get(axis, 0)) for axis in sorted({*hashes, *live})
    )
    return Discovery(address, channels, axes)


def _numsub(bus: Bus, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    (reply,) = bus.execute(("PUBSUB", "NUMSUB", *(name.encode() for name in names)))
    pairs = zip(reply[::2], reply[1::2], strict=True)
    return {name.decode("utf-8", "surrogateescape"): int(count) for name, count in pairs}


def _axes_with_a_hash(bus: Bus) -> set[str]:
    """The axes whose settings hash ``axis.<name>`` exists (``SCAN``, in steps)."""
    found, cursor = set(), b"0"
    while True:
        ((cursor, keys),) = bus.execute(
            ("SCAN", cursor, "MATCH", "axis.*", "COUNT", _SCAN_COUNT, "TYPE", "hash")
        )
        for key in keys:
            axis = key.decode("utf-8", "surrogateescape")[len("axis.") :]
            if axis and "." not in axis:
                found.add(axis)
        if cursor in (b"0", 0):
            return found


class _Unanswered:
    """The value of a channel whose holders did not answer in time."""


_UNANSWERED = _Unanswered()


def _ask(bus: Bus, names: list[str], timeout: float) -> tuple[dict[str, Any], dict[str, str]]:
    """The value of each channel of ``names`` (None: nobody holds one; ``_UNANSWERED``), asked
    through mirrors, and the decoding error of those whose value was refused."""
    errors: dict[str, str] = {}
    changed = threading.Condition()

    def wake(*_: object) -> None:  # in the bus reader: only wakes the waiting thread
        with changed:
            changed.notify_all()

    def refused(name: str, error: str) -> None:
        errors.setdefault(name, error)
        wake()

    bus.add_decode_error_listener(refused)
    with bus.subscriptions_together():
        mirrors = [
            Channel(
                name,
                bus=bus,
                mirror=True,
                timeout=timeout,
                on_message=wake,
                on_holders_changed=wake,
            )
            for name in names
        ]
    deadline = time.monotonic() + timeout
    with changed:
        while not all(m.settled or m.name in errors for m in mirrors):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            changed.wait(min(left, 0.1))  # also a poll: settling may call back nothing
    values: dict[str, Any] = {}
    for mirror in mirrors:
        held = mirror.held
        if held is not None:
            values[mirror.name] = held.value
        elif not mirror.settled:
            values[mirror.name] = _UNANSWERED
        mirror.close()
    return values, errors


def _found(
    name: str, processes: int, value: Any, error: str | None, timeout: float
) -> FoundChannel:
    if is_event_channel(name):
        return FoundChannel(name, processes, None, "an event channel (not asked)", event=True)
    if error is not None:
        return FoundChannel(name, processes, None, f"undecodable: {error}")
    if value is _UNANSWERED:
        return FoundChannel(name, processes, None, f"no answer within {timeout:g} s")
    if value is None:
        return FoundChannel(name, processes, None, "no value (None)")
    kind = infer_kind(value)
    return FoundChannel(name, processes, str(kind) if kind else None, _describe(value))


def _describe(value: Any) -> str:
    """``<type>: <value>``, the value cut short; a BLISS object by its class and content."""
    if isinstance(value, Opaque):
        kind = value.class_path
        if is_axis_state(value):
            shown = " ".join(axis_state_names(value))
        elif value.args and not value.state:
            shown = repr(value.args[0])  # an enum member holds its value
        else:
            shown = repr(value)
    else:
        cls = type(value)
        kind = (
            cls.__qualname__
            if cls.__module__ == "builtins"
            else f"{cls.__module__}.{cls.__qualname__}"
        )
        shape = getattr(value, "shape", None)
        if shape is not None and getattr(value, "dtype", None) is not None:
            kind += f" {value.dtype}{list(shape)}"
        shown = repr(value)
    shown = " ".join(shown.split())  # numpy's repr spans lines
    if len(shown) > _PREVIEW:
        shown = shown[: _PREVIEW - 3] + "..."
    return f"{kind}: {shown}"


# ---------------------------------------------------------------- for a person
def table(discovery: Discovery) -> str:
    """What was found, as two tables (channels, then axes) a person reads in a terminal."""
    channels, axes = discovery.channels, discovery.axes
    out = [
        f"Redis at {discovery.address}: {len(channels)} live channels, {len(axes)} axes",
        "",
    ]
    if channels:
        out += _columns(
            ("CHANNEL", "PROCESSES", "TYPE=", "VALUE"),
            [(c.name, str(c.processes), c.kind or "-", c.value) for c in channels],
        )
    else:
        out.append("No live channel: no BLISS session holds any now.")
    out.append("")
    if axes:
        out += _columns(
            ("AXIS", "SETTINGS HASH", "LIVE CHANNELS"),
            [(a.name, "yes" if a.settings_hash else "no", str(a.live_channels)) for a in axes],
        )
    else:
        out.append("No axis: no axis.<name> settings hash, no axis.<name>.* channel.")
    return "\n".join(out) + "\n"


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    shown = [header, *[tuple(_printable(cell) for cell in row) for row in rows]]
    widths = [max(len(row[i]) for row in shown) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in shown
    ]


def _printable(text: str) -> str:
    """A name from the wire as a terminal shows it safely (control characters escaped)."""
    return text if text.isprintable() else repr(text)[1:-1]


# ------------------------------------------------------------ a deployment file
def channels_device_name(beamline: str) -> str:
    """The name the starter file gives the BeaconChannels device: ``<beamline>/beacon/channels``."""
    return f"{beamline}/beacon/channels"


def starter_document(
    discovery: Discovery, beamline: str, redis_property: tuple[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """A deployment document of what was found, for the server instance ``beamline``, and
    what it left out (one line each, for the person).

    ``redis_property`` is how the devices find Redis: ``("BeaconHost", "host:port")`` or
    ``("RedisUrl", url)``, as ``discover`` was told. The ``BeaconChannels`` device has a
    ``Channels`` line per live channel with a value, carrying its ``type=`` (so that its
    attribute exists at start, before any session runs; without a value, no ``type=``), but
    the event channels and the axis settings its ``Axes`` lines show; a ``BeaconAxis`` device
    per axis. Each class has its default ``AllowedAccessCmd``.
    """
    left_out: list[str] = []
    axes = []
    for axis in discovery.axes:
        why = axis_name_error(axis.name)
        if why is None:
            axes.append(axis.name)
        else:
            left_out.append(f"axis {axis.name!r}: not a BLISS axis name ({why})")
    lines = []
    for channel in discovery.channels:
        if channel.event or _shown_by_axes(channel.name, axes):
            continue
        line = shlex.quote(channel.name) + (f" type={channel.kind}" if channel.kind else "")
        try:
            parse_line(line)
        except LineError as exc:
            left_out.append(f"channel {channel.name!r}: {exc}")
            continue
        lines.append(line)
    where = {redis_property[0]: [redis_property[1]]}
    properties = dict(where)
    if lines:
        properties["Channels"] = lines
    if axes:
        properties["Axes"] = [shlex.quote(axis) for axis in axes]
    by_class: dict[str, Any] = {
        SERVER: {channels_device_name(beamline): {"properties": properties}}
    }
    if axes:
        by_class[AXIS_CLASS] = {
            _axis_device(beamline, axis): {"properties": _axis_properties(axis, where)}
            for axis in axes
        }
    document = {
        "servers": {SERVER: {beamline: by_class}},
        "classes": {
            cls: {"properties": {CLASS_PROPERTY: list(BY_CLASS[cls].default)}} for cls in by_class
        },
    }
    return document, left_out


def _shown_by_axes(channel: str, axes: list[str]) -> bool:
    """Whether an ``Axes`` line of the file shows ``channel`` (or it is ``move_stop``, which
    BLISS uses to stop a move, not a value to show)."""
    match = _AXIS_CHANNEL.fullmatch(channel)
    if match is None or match["axis"] not in axes:
        return False
    return match["setting"] in _SHOWN_BY_AXES or channel == move_stop_channel(match["axis"])


_MEMBER = re.compile(r"[-\w]+")


def _axis_device(beamline: str, axis: str) -> str:
    """The axis's device: ``<beamline>/bliss/<axis>``, characters a Tango device name can't
    hold replaced by ``_`` (its ``Axis`` property then names the axis)."""
    return device_name(beamline, axis if _MEMBER.fullmatch(axis) else re.sub(r"[^-\w]", "_", axis))


def _axis_properties(axis: str, where: dict[str, list[str]]) -> dict[str, list[str]]:
    if _MEMBER.fullmatch(axis):
        return dict(where)
    return {**where, "Axis": [axis]}
