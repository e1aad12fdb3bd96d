"""State and Status: what a device says of itself, as a pure function of what it knows.

The publisher calls these after its turns (when something Status says changed, and every
``STATE_PERIOD``), with a :class:`Situation` it made in its own thread: the device's
attribute records, its connection to Redis and where that address came from, its errors. Both
functions only read; tests pass situations of their own.

- :func:`channels_state` is a BeaconChannels device's: FAULT while Redis is unreachable or a
  line or an attribute can't be used (until Init), ALARM while an attribute's quality is
  ALARM or WARNING (an axis on a limit switch included), else ON; Status says what is shown,
  what is not and why, in lines a person can act on.
- :func:`axis_status` is a BeaconAxis device's Status: the axis's BLISS states, who holds the
  axis, where values come from when no session runs, and why a value is missing. Its State is
  the axis state's own, pushed with each state value (see ``tango_axis``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from .attribute import AttributeRecord, View
from .axes import STANDARD_STATES, axis_state_names, is_axis_state
from .lifecycle import Phase
from .sample import Sample

__all__ = ["ALARM_LINES", "DeviceState", "Situation", "axis_status", "channels_state"]

ALARM_LINES = 5  # alarms said one by one in Status; more are counted
NAMES_SHOWN = 5  # channels named in one Status line; more are "..."


@dataclass(frozen=True)
class DeviceState:
    """State (a Tango state name: ON, ALARM, FAULT...) and Status."""

    state: str
    status: str


@dataclass(frozen=True)
class Situation:
    """What a device's State and Status are made of, at one moment (see the module
    docstring). ``connection``: one line about Redis (connected, or unreachable since when
    and why); ``source``: where its address came from; ``errors``: lines that make the device
    FAULT (bad lines, attributes that can't be made); ``last_error``: when, and the last
    connection error."""

    connected: bool
    connection: str
    source: str
    records: Sequence[AttributeRecord]
    errors: Sequence[str] = ()
    decode_errors: int = 0
    last_error: tuple[float, str] | None = None


def channels_state(situation: Situation) -> DeviceState:
    """A BeaconChannels device's State and Status (see the module docstring)."""
    records = situation.records
    lines = [_connection_line(situation)]
    lines += _summary(situation)
    retired = sum(1 for r in records if r.phase is Phase.RETIRED)
    if retired:
        lines.append(
            f"{retired} attributes retired: no line matches their channels any more (a line "
            "matching them shows them again; a restart drops them)."
        )
    lines += situation.errors
    if situation.decode_errors:
        lines.append(
            f"Undecodable messages dropped: {situation.decode_errors} (the log names each "
            "channel and why)."
        )
    alarms = sorted(
        (r.name or "", r.alarm) for r in records if r.alarm is not None and r.phase is Phase.SHOWN
    )
    for _, (quality, why) in alarms[:ALARM_LINES]:
        lines.append(f"{quality.capitalize()}: {why}.")
    if len(alarms) > ALARM_LINES:
        lines.append(f"... and {len(alarms) - ALARM_LINES} more attributes in alarm.")
    lines += _last_error(situation)
    faulty = not situation.connected or situation.errors
    state = "FAULT" if faulty else "ALARM" if alarms else "ON"
    return DeviceState(state, "\n".join(lines))


def axis_status(axis: str, situation: Situation) -> str:
    """A BeaconAxis device's Status (see the module docstring)."""
    shown = [r for r in situation.records if r.phase is Phase.SHOWN]
    state = next((r for r in shown if r.name == "State"), None)
    lines = []
    held = state.held if state is not None else None
    if not situation.connected:
        lines.append(f"Axis {axis}: its state is unknown while Redis is unreachable.")
    elif state is not None and held is not None and state.live and is_axis_state(held.value):
        names = axis_state_names(held.value)
        descriptions = held.value.state.get("_state_desc", {})
        said = "; ".join(
            str(descriptions.get(n) or STANDARD_STATES.get(n, n)) for n in names
        )
        lines.append(f"Axis {axis} is {' '.join(names)} ({said}).")
        lines.append(
            f"Held by the BLISS process {held.sender_id} (its last state at "
            f"{_clock(held.timestamp)})."
        )
    elif state is not None and state.abandoned is not None:
        lines.append(
            f"Axis {axis}: no BLISS session holds it since {_clock(state.abandoned)}; its "
            f"state is unknown, its settings are those BLISS persisted (hash axis.{axis})."
        )
    else:
        why = state.why_no_value() if state is not None else "not followed yet"
        lines.append(f"Axis {axis}: no BLISS session holds it ({why}).")
    lines.append(_connection_line(situation))
    missing = [
        r for r in shown if r.view is not View.LIMIT_SWITCHES and _missing(r.shown) is not None
    ]
    if missing and situation.connected:
        lines.append(
            f"No value for {_listed([r.name or r.channel for r in missing])}: "
            f"{_missing(missing[0].shown)}."
        )
    lines += situation.errors
    lines += _last_error(situation)
    return "\n".join(lines)


# ---------------------------------------------------------------------- the parts
def _connection_line(situation: Situation) -> str:
    text = situation.connection
    line = text[0].upper() + text[1:]
    return f"{line} ({situation.source})." if situation.source else f"{line}."


def _last_error(situation: Situation) -> list[str]:
    if situation.last_error is None:
        return []
    when, text = situation.last_error
    return [f"Last error ({_clock(when)}): {text}"]


def _summary(situation: Situation) -> list[str]:
    """Lines for Status: what is shown, what is not, and why."""
    records = situation.records
    shown = [r for r in records if r.phase is Phase.SHOWN]
    untyped = [r for r in records if r.phase is Phase.UNTYPED]
    samples = [(r, r.shown) for r in shown if r.shown is not None]
    line = f"{len({r.channel for r in shown})} channels exposed as attributes"
    if untyped:
        line += (
            f"; {len(untyped)} waiting for a first value to set their type "
            f"({_listed([r.channel for r in untyped])})"
        )
    lines = [line + "."]
    fallback = [
        r for r, s in samples if s.error is None and r.spec.setting is not None and not r.live
    ]
    if fallback:
        lines.append(
            f"{len(fallback)} channels shown from BLISS settings: no session holds them "
            f"({_listed([r.channel for r in fallback])})."
        )
    absent = [(r, s) for r, s in samples if s.absent and s.error]
    absent += [(r, _NOTHING_YET) for r in shown if r.shown is None]
    gone = [(r, s) for r, s in absent if r.abandoned is not None]
    if gone:
        lines.append(
            f"{len(gone)} channels not held by any BLISS process "
            f"({_listed([r.channel for r, _ in gone])}): {gone[0][1].error}."
        )
    missing = [r for r, _ in absent if r.abandoned is None]
    if missing:
        lines.append(
            f"{len(missing)} channels have no value yet ({_listed([r.channel for r in missing])}): "
            f"{missing[0].why_no_value()}."
        )
    errors = [s.error for _, s in samples if s.error and not s.absent]
    if errors and situation.connected:
        lines.append(f"{len(errors)} channels with a value error, e.g. {errors[0]}.")
    return lines


_NOTHING_YET = Sample.failed("no value yet", 0.0, absent=True)


def _missing(sample: Sample | None) -> str | None:
    """Why a sample shows no value (None: it shows one)."""
    if sample is None:
        return "no value yet"
    if sample.error is not None:
        return sample.error
    return "no value (None)" if sample.value is None else None


def _listed(names: list[str]) -> str:
    unique = sorted(set(names))
    return ", ".join(unique[:NAMES_SHOWN]) + (", ..." if len(unique) > NAMES_SHOWN else "")


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))
