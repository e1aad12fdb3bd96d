"""One attribute's record on its own: samples in, events out, no Tango, the time passed in.

What a GUI, HDB++ and an alarm handler see of one attribute is decided here: which samples
make change and archive events under the criteria, when an alarm event goes out, and the
timestamps events carry. Each test feeds items and asserts on the events.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tango_channels.protocol import Standing
from tango_channels.wire.encode import encode_value
from tango_channels.wire.messages import ValueMessage
from tango_channels_device.bridge.attribute import (
    AttributeRecord,
    AxisStateItem,
    BadMessage,
    Connection,
    Context,
    EventKind,
    View,
)
from tango_channels_device.bridge.axes import axis_state
from tango_channels_device.bridge.criteria import Criteria
from tango_channels_device.bridge.kinds import parse_kind
from tango_channels_device.bridge.lines import ChannelSpec
from tango_channels_device.bridge.sample import NO_VALUE, REDIS_UNREACHABLE, Quality

NAME = "al.pos"
CONTEXT = Context(lambda source: None)
OUTAGE = Connection(False, "Redis at redis://x:6379/0 unreachable since 10:02:03, retrying")
BACK = Connection(True, "connected to Redis at redis://x:6379/0")


def record(kind: str = "float", view: View = View.VALUE, name: str = NAME) -> AttributeRecord:
    made = AttributeRecord(name, ChannelSpec(name, name), view, parse_kind(kind))
    made.name = name.replace(".", "_")
    return made


def value(v: Any, at: float) -> ValueMessage:
    return encode_value("4242", at, v)


def events(made: AttributeRecord, items: list[Any], criteria: Criteria | None = None) -> list:
    """(kind, value or error, quality, timestamp) of the events each item makes, in order."""
    if criteria is not None:
        made.set_criteria(criteria, 0.0)
    out = []
    now = 1000.0
    for item in items:
        now += 1.0
        sample = made.sample(item, CONTEXT, now)
        for kind, shown in made.show(sample, now):
            out.append((kind, shown.error or shown.value, shown.quality, shown.timestamp))
    return out


def of(kind: EventKind, seen: list) -> list:
    return [(what, quality) for k, what, quality, _ in seen if k is kind]


# ------------------------------------------------------------------ change and archive
def test_with_no_criteria_every_value_makes_a_change_event_with_its_source_time():
    made = record()
    seen = events(made, [value(v, at) for v, at in ((1.0, 11.0), (1.0, 12.0), (2.0, 13.0))])
    changes = [(w, t) for k, w, _, t in seen if k is EventKind.CHANGE]
    assert changes == [(1.0, 11.0), (1.0, 12.0), (2.0, 13.0)]  # equal ones too: each value


def test_abs_change_makes_an_event_only_past_the_threshold_from_the_last_one():
    made = record()
    steps = [value(v, 10.0 + i) for i, v in enumerate([1.0, 1.1, 1.2, 1.3, 2.0, 2.1])]
    seen = events(made, steps, Criteria(abs_change=(-0.5, 0.5)))
    assert [w for w, _ in of(EventKind.CHANGE, seen)] == [1.0, 2.0]


def test_text_makes_an_event_when_it_changes():
    made = record("str")
    seen = events(made, [value(t, 10.0 + i) for i, t in enumerate(["a", "a", "b", "a"])])
    assert [w for w, _ in of(EventKind.CHANGE, seen)] == ["a", "b", "a"]


def test_event_timestamps_only_go_forward_even_when_a_value_is_stamped_earlier():
    """HDB++ keys its tables on attribute and time."""
    made = record()
    seen = events(made, [value(1.0, 50.0), value(2.0, 40.0), OUTAGE, BACK, value(3.0, 45.0)])
    stamps = [t for k, _, _, t in seen if k is EventKind.CHANGE]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(0, 1e4)), min_size=1, max_size=30))
def test_every_event_of_an_attribute_is_later_than_the_one_before(pairs):
    made = record()
    seen = events(made, [value(v, at) for v, at in pairs])
    for kind in EventKind:
        stamps = [t for k, _, _, t in seen if k is kind]
        assert all(a < b for a, b in itertools.pairwise(stamps))


# ------------------------------------------------------------------ alarms
LIMITS = Criteria(max_alarm=10.0, max_warning=8.0)


def test_an_alarm_event_each_way_across_max_alarm_and_none_for_moves_inside_a_range():
    made = record()
    seen = events(made, [value(v, 10.0 + i) for i, v in enumerate([2, 3, 12, 13, 4, 5])], LIMITS)
    assert of(EventKind.ALARM, seen) == [(12.0, Quality.ALARM), (4.0, Quality.VALID)]
    assert [w for w, _ in of(EventKind.CHANGE, seen)] == [2.0, 3.0, 12.0, 13.0, 4.0, 5.0]
    assert made.alarm is None


def test_warning_then_alarm_then_back_are_three_alarm_events():
    made = record()
    seen = events(made, [value(v, 10.0 + i) for i, v in enumerate([1, 9, 11, 1])], LIMITS)
    assert of(EventKind.ALARM, seen) == [
        (9.0, Quality.WARNING), (11.0, Quality.ALARM), (1.0, Quality.VALID)
    ]


def test_an_outage_is_an_error_event_for_change_and_alarm_subscribers_saying_why():
    made = record()
    seen = events(made, [value(1.0, 10.0), OUTAGE, BACK, value(2.0, 11.0)], LIMITS)
    errors = [(k, w) for k, w, q, _ in seen if q is Quality.INVALID]
    assert {k for k, _ in errors} == set(EventKind)  # change, archive and alarm
    assert all("unreachable since 10:02:03" in w and "(last value 1.0)" in w for _, w in errors)
    assert made.shown is not None and made.shown.value == 2.0  # back
    assert of(EventKind.ALARM, seen)[-1] == (1.0, Quality.VALID)  # back: the value held


def test_an_outage_error_carries_its_reason_for_reads():
    made = record()
    events(made, [value(1.0, 10.0), OUTAGE])
    assert made.shown is not None and made.shown.reason == REDIS_UNREACHABLE


def test_an_axis_state_on_a_limit_switch_makes_an_alarm_event():
    made = record("state")
    states = [axis_state("READY"), axis_state("READY", "LIMPOS"), axis_state("MOVING")]
    seen = events(made, [value(s, 10.0 + i) for i, s in enumerate(states)])
    assert of(EventKind.ALARM, seen) == [("ALARM", Quality.VALID), ("MOVING", Quality.VALID)]


# ------------------------------------------------------------------ what a sample says
def test_an_undecodable_message_is_an_error_until_the_next_value():
    made = record()
    seen = events(made, [value(1.0, 10.0), BadMessage("undecodable: bad pickle"), value(2.0, 11.0)])
    assert [w for w, _ in of(EventKind.CHANGE, seen)] == [1.0, "undecodable: bad pickle", 2.0]


def test_a_value_of_another_type_is_an_error_naming_both_not_a_new_type():
    made = record("float")
    seen = events(made, [value("fast", 10.0)])
    (change,) = of(EventKind.CHANGE, seen)
    assert "expected a number" in change[0] and "(attribute type float)" in change[0]


def test_a_channel_nobody_holds_any_more_shows_since_when_and_its_last_value():
    made = record()
    held = value(41.5, 10.0)
    events(made, [held])
    shown = made.sample(Standing(held, False, 20.0, True, ""), CONTEXT, 30.0)
    assert shown.absent and shown.reason == NO_VALUE
    assert f"no BLISS process holds {NAME} since " in (shown.error or "")
    assert "(last value 41.5)" in (shown.error or "")


def test_an_axis_position_is_changing_while_its_axis_moves_and_valid_once_nobody_holds_it():
    position = record("float", View.POSITION, "axis.roby.position")
    moving = value(axis_state("MOVING"), 5.0)
    following = AxisStateItem(Standing(moving, True, None, True, ""))
    left = AxisStateItem(Standing(moving, False, 12.0, True, ""))  # a session killed mid-move
    seen = events(position, [following, value(1.0, 10.0), left])
    assert [q for k, _, q, _ in seen if k is EventKind.CHANGE][-2:] == [
        Quality.CHANGING,
        Quality.VALID,
    ]


def test_a_standing_taken_before_a_value_already_shown_says_nothing_newer():
    made = record()
    first, second = value(1.0, 10.0), value(2.0, 11.0)
    events(made, [first, second, Standing(first, True, None, True, "")])
    assert made.shown is not None and made.shown.value == 2.0


def test_limit_switches_are_home_upper_lower_and_alarm_on_a_limit():
    switches = record("spectrum:bool", View.LIMIT_SWITCHES, "axis.roby.state")
    seen = events(switches, [value(axis_state("READY", "LIMPOS"), 10.0)])
    (_, shown, quality, _), *_ = seen
    assert list(shown) == [False, True, False] and quality is Quality.ALARM
