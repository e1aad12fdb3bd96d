"""The publisher's pure pieces, on their own with the time passed in: its pace, the State and
Status it says, and an attribute's life.

These decide what operators see when the machine is busy, what a device's Status says, and
whether an attribute a client subscribed to can vanish; each is fed situations and times.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tango_channels.protocol import Standing
from tango_channels.wire.encode import encode_value
from tango_channels_device.bridge.attribute import AttributeRecord, Connection, Context
from tango_channels_device.bridge.axes import axis_state
from tango_channels_device.bridge.kinds import parse_kind
from tango_channels_device.bridge.lifecycle import MOVES, Phase, Step, move
from tango_channels_device.bridge.lines import ChannelSpec
from tango_channels_device.bridge.pacer import MAX_TURN, PACE, WINDOW, Pacer
from tango_channels_device.bridge.settings import SettingSource
from tango_channels_device.bridge.status import Situation, axis_status, channels_state


# ---------------------------------------------------------------------- the pace
@given(st.lists(st.tuples(st.floats(0.0, 0.05), st.floats(0.001, 2.0)), max_size=200))
def test_a_thread_waiting_for_a_core_is_never_backed_up(turns):
    """Descheduled for up to 2 s at a time, it spends little CPU showing values: its values
    are all shown, none superseded (the wall clock said otherwise: issue 22)."""
    pacer = Pacer()
    for cpu, wall in turns:
        pacer.turned(min(cpu, 0.3 * wall), wall)
        assert not pacer.backed_up
        assert not pacer.latest_only(waiting=MAX_TURN, records=1)


def test_a_burst_of_short_busy_turns_is_not_a_flood():
    """Start-up: a few turns back to back, each mostly showing values, then quiet."""
    pacer = Pacer()
    for _ in range(8):
        pacer.turned(0.0009, 0.001)
    pacer.turned(0.0, 0.5)
    assert not pacer.backed_up


def test_a_flood_backs_it_up_and_it_paces_until_showing_takes_little_of_its_time():
    pacer = Pacer()
    turns = 0
    while not pacer.backed_up:
        pacer.turned(0.009, 0.01)  # 90 % of its time on the CPU showing values
        turns += 1
    assert turns <= WINDOW / 0.01 + 1 and pacer.latest_only(waiting=2, records=2)
    assert 0 < pacer.pause(now=10.0, ended=10.0) <= PACE
    while pacer.backed_up:
        pacer.turned(0.001, 0.01)
    assert pacer.pause(now=10.0, ended=10.0) == 0.0


def test_a_turn_finding_more_than_its_budget_shows_each_attribute_s_latest():
    pacer = Pacer()
    assert pacer.latest_only(waiting=MAX_TURN + 1, records=3)
    assert not pacer.latest_only(waiting=MAX_TURN + 1, records=MAX_TURN + 1)  # one each
    assert not pacer.latest_only(waiting=MAX_TURN, records=3)


# ---------------------------------------------------------------------- State and Status
def shown(channel: str, value: object, *, live: bool = True, setting: str = "") -> AttributeRecord:
    """A record showing ``value``, held (or not: since 10 s after the epoch) by a process."""
    spec = ChannelSpec(channel, channel, setting=SettingSource.parse(setting) if setting else None)
    record = AttributeRecord(channel, spec, kind=parse_kind("float"))
    record.name, record.phase = channel.replace(".", "_"), Phase.SHOWN
    message = encode_value("4242", 1.0, value)
    record.take(message)
    if not live:
        record.take(Standing(message, False, 10.0, True, ""))
    persisted = {spec.setting: _persisted(value)} if spec.setting else {}
    record.show(record.sample(None, Context(persisted.get), 5.0), 5.0)
    return record


def _persisted(value: object):
    from tango_channels_device.bridge.settings import Persisted

    return Persisted(value, 2.0)


def situation(*records: AttributeRecord, connected: bool = True, errors=()) -> Situation:
    connection = "connected to Redis at redis://h:6379/0" if connected else "Redis unreachable"
    return Situation(connected, connection, "from the RedisUrl property", records, errors)


def test_on_says_where_redis_is_and_where_that_came_from():
    state = channels_state(situation(shown("a.x", 1.0)))
    assert state.state == "ON"
    assert state.status.splitlines()[0] == (
        "Connected to Redis at redis://h:6379/0 (from the RedisUrl property)."
    )
    assert "1 channels exposed as attributes." in state.status


def test_fault_while_redis_is_unreachable_or_a_line_is_bad_alarm_while_an_attribute_is():
    assert channels_state(situation(shown("a.x", 1.0), connected=False)).state == "FAULT"
    bad = channels_state(situation(shown("a.x", 1.0), errors=["line 2: unknown type 'flaot'"]))
    assert bad.state == "FAULT" and "line 2: unknown type 'flaot'" in bad.status
    alarmed = shown("a.x", 12.0)
    alarmed.alarm = ("ALARM", "a_x = 12.0 is above max_alarm 10")
    state = channels_state(situation(alarmed))
    assert state.state == "ALARM" and "Alarm: a_x = 12.0 is above max_alarm 10." in state.status


def test_status_says_which_channels_come_from_settings_and_which_nobody_holds():
    from_hash = shown("s.state", 3.0, live=False, setting="shutter:s/state")
    gone = shown("g.x", 2.0, live=False)
    retired = shown("r.x", 1.0)
    move(retired, Step.UNMATCHED)
    status = channels_state(situation(from_hash, gone, retired)).status
    assert "1 channels shown from BLISS settings: no session holds them (s.state)." in status
    assert "1 channels not held by any BLISS process (g.x)" in status
    assert "1 attributes retired" in status


def test_a_motor_s_status_says_its_states_who_holds_it_and_what_is_missing():
    state = AttributeRecord("axis.roby.state", ChannelSpec("x", "x"), kind=parse_kind("state"))
    state.name, state.phase = "State", Phase.SHOWN
    held = encode_value("4242", 1.0, axis_state("READY", "LIMPOS"))
    state.show(state.sample(held, Context(dict().get), 5.0), 5.0)
    empty = AttributeRecord("axis.roby.velocity", ChannelSpec("v", "v"), kind=parse_kind("float"))
    empty.name, empty.phase = "Velocity", Phase.SHOWN
    status = axis_status("roby", situation(state, empty))
    assert "Axis roby is READY LIMPOS (Axis is READY; Hardware high limit active)." in status
    assert "Held by the BLISS process 4242" in status
    assert "No value for Velocity: no value yet." in status
    state.take(Standing(state.held, False, 10.0, True, ""))
    assert "no BLISS session holds it since" in axis_status("roby", situation(state))
    assert "unknown while Redis is unreachable" in axis_status(
        "roby", situation(state, connected=False)
    )


def test_a_connection_lost_is_said_by_every_attribute_in_order_with_its_values():
    record = shown("a.x", 1.0)
    lost = record.sample(Connection(False, "Redis at h unreachable"), Context(dict().get), 6.0)
    assert lost.error is not None and "(last value 1.0)" in lost.error


# ---------------------------------------------------------------------- an attribute's life
class Life:
    def __init__(self, phase: Phase) -> None:
        self.phase = phase


@given(st.sampled_from([Phase.SHOWN, Phase.RETIRED]), st.lists(st.sampled_from(Step)))
def test_an_attribute_once_made_is_never_dropped_while_the_server_runs(start, steps):
    """Clients subscribed to it keep a name that answers (retired, or shown again)."""
    life = Life(start)
    for step in steps:
        move(life, step)
        assert life.phase in (Phase.SHOWN, Phase.RETIRED)


def test_every_phase_can_be_reached_and_a_step_not_in_the_table_changes_nothing():
    reached = {Phase.UNTYPED} | set(MOVES.values())
    assert reached == set(Phase)
    life = Life(Phase.SHOWN)
    assert move(life, Step.TYPED) is None and life.phase is Phase.SHOWN
    assert move(life, Step.UNMATCHED) is Phase.RETIRED
    assert move(life, Step.MATCHED) is Phase.SHOWN

