"""Tango's event criteria and alarm limits, as the device applies them (no server needed):
what an operator who set them in Jive sees, or doesn't, on a GUI or in HDB++."""

from __future__ import annotations

from types import SimpleNamespace

import numpy

from tango_channels_device.bridge.criteria import FIELDS, Criteria, EventFilter, alarm_of
from tango_channels_device.bridge.sample import Quality, Sample

NOT_SET = "Not specified"


def config(**given: str) -> SimpleNamespace:
    """Tango's attribute configuration as text, as PyTango's MultiAttrProp holds it."""
    names = FIELDS
    return SimpleNamespace(**{name: given.get(name, NOT_SET) for name in names})


def values(sample_values, numeric=True, **criteria: str) -> list:
    events = EventFilter(numeric)
    events.criteria = Criteria.parse(config(**criteria))
    return [v for v in sample_values if events.change(Sample(v, 0.0, Quality.VALID))]


def test_abs_change_gives_the_issue_s_example():
    assert values([1.0, 1.1, 1.2, 1.3, 2.0, 2.1], abs_change="0.5") == [1.0, 2.0]


def test_thresholds_can_differ_down_and_up():
    assert values([0.0, 0.15, -0.15, -0.3, 0.5], abs_change="-0.3,0.5") == [0.0, -0.3, 0.5]


def test_rel_change_is_a_percentage_of_the_last_event_s_value():
    assert values([100.0, 105.0, 111.0, 0.0, 0.0, 1.0], rel_change="10") == [100.0, 111.0, 0.0, 1.0]


def test_without_a_threshold_every_number_makes_an_event():
    assert values([1.0, 1.0, 2.0]) == [1.0, 1.0, 2.0]


def test_text_states_and_enums_make_an_event_when_they_change():
    assert values(["ON", "ON", "MOVING", "ON"], numeric=False) == ["ON", "MOVING", "ON"]
    assert values([1, 1, 2], numeric=False) == [1, 2]  # an enum's index: not a number


def test_an_array_makes_an_event_when_an_element_moves_enough_or_its_shape_changes():
    first, small, big, longer = (
        numpy.array([1.0, 2.0]),
        numpy.array([1.1, 2.0]),
        numpy.array([1.0, 3.0]),
        numpy.array([1.0, 3.0, 0.0]),
    )
    kept = values([first, small, big, longer], abs_change="0.5")
    assert [len(v) for v in kept] == [2, 2, 3] and kept[1][1] == 3.0


def test_a_change_of_quality_and_an_error_always_make_an_event():
    events = EventFilter(numeric=True)
    events.criteria = Criteria.parse(config(abs_change="10"))
    samples = [
        Sample(1.0, 0.0, Quality.VALID),
        Sample(1.0, 0.0, Quality.INVALID),
        Sample(1.0, 0.0, Quality.VALID),
        Sample.failed("channel x: expected a number, got str", 0.0),
        Sample(1.5, 0.0, Quality.VALID),
        Sample(1.6, 0.0, Quality.VALID),
    ]
    assert [events.change(s) for s in samples] == [True, True, True, True, True, False]


def test_archive_period_alone_makes_periodic_events_only():
    events = EventFilter(numeric=True)
    events.criteria = Criteria.parse(config(archive_period="1000"))
    assert events.archive(Sample(1.0, 0.0, Quality.VALID), now=0.0)
    assert not events.archive(Sample(2.0, 0.0, Quality.VALID), now=0.5)
    assert events.archive_due(now=1.0)
    assert events.archive(Sample(2.0, 0.0, Quality.VALID), now=1.0)


def test_alarm_limits_give_alarm_then_warning_with_a_reason():
    criteria = Criteria.parse(config(max_alarm="10", max_warning="8", min_alarm="-10"))
    assert alarm_of(12.3, Quality.VALID, criteria, "pos") == (
        Quality.ALARM,
        "pos = 12.3 is above max_alarm 10",
    )
    assert alarm_of(8.5, Quality.CHANGING, criteria, "pos")[0] is Quality.WARNING
    assert alarm_of(-11, Quality.VALID, criteria, "pos")[1] == "pos = -11 is below min_alarm -10"
    assert alarm_of(5.0, Quality.VALID, criteria, "pos") == (Quality.VALID, "")
    assert alarm_of(50.0, Quality.INVALID, criteria, "pos")[0] is Quality.INVALID
