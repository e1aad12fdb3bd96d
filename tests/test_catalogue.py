"""The catalogue on its own: lines in, channels and attribute names out, no I/O.

What an operator writes in ``Channels`` and ``Axes`` decides what a Taurus panel lists; these
tests feed lines, survey findings and removals, and look at the feeds and names that result.
"""

from __future__ import annotations

import pytest

from tango_channels_device.bridge.attribute import AttributeRecord, Role
from tango_channels_device.bridge.catalogue import Catalogue
from tango_channels_device.bridge.lines import LineError

RESERVED = ["State", "Status", "ChannelNames"]


def catalogue(known: dict[str, tuple[str, str]] | None = None) -> Catalogue:
    woken: list[AttributeRecord] = []
    return Catalogue(woken.append, RESERVED, known)


def names(made: Catalogue) -> dict[str, str | None]:
    return {r.key: r.name for r in made.records()}


def test_typed_lines_are_named_at_once_and_untyped_ones_wait_for_their_first_value():
    made = catalogue()
    feeds = made.configure(["axis.roby.position type=float", "musst_1:last__md5"], [])
    assert [f.name for f in feeds] == ["axis.roby.position", "musst_1:last__md5"]
    assert names(made) == {"axis.roby.position": "axis_roby_position", "musst_1:last__md5": None}
    untyped = made.by_channel("musst_1:last__md5")
    assert untyped is not None and not untyped.named
    untyped.kind = made.by_channel("axis.roby.position").kind  # type: ignore[union-attr]
    made.name(untyped)
    assert untyped.name == "musst_1_last__md5"
    assert made.by_attribute("MUSST_1_LAST__MD5") is untyped  # Tango names: any case


def test_colliding_names_get_suffixes_in_channel_name_order_and_state_is_taken():
    made = catalogue()
    made.configure(["a.b type=int", "a:b type=int", "state type=int"], [])
    assert names(made) == {"a.b": "a_b", "a:b": "a_b_2", "state": "state_2"}


def test_a_chosen_name_already_taken_refuses_that_line_only():
    made = catalogue()
    made.configure(["x type=int attr=Pos", "y type=int attr=pos", "z type=int"], [])
    assert set(names(made)) == {"x", "z"}
    assert "'y type=int attr=pos': attribute name 'pos' is already taken" in made.errors[0]


def test_an_axis_is_fourteen_channels_its_state_twice_its_position_following_it():
    made = catalogue()
    feeds = made.configure([], ["roby unit=mm"])
    assert len(feeds) == 13
    state = made.feed("axis.roby.state")
    assert state is not None and [r.role for r in state.records] == [Role.VALUE, Role.STATE_NAMES]
    position = made.by_channel("axis.roby.position")
    assert position is not None and position.role is Role.POSITION
    assert position.state_of_axis is state and state.dependents == [position]
    assert position.spec.unit == "mm" and made.by_channel("axis.roby.velocity").spec.unit == "mm/s"  # type: ignore[union-attr]


def test_globs_follow_what_the_survey_finds_and_a_removed_match_stays_removed():
    made = catalogue()
    assert made.configure(["musst*:last__md5", "sample:target type=float"], []) != []
    assert made.plan().globs == ("musst*:last__md5",)
    found = made.discovered({"musst*:last__md5": ["musst_1:last__md5", "musst_2:last__md5"]}, {})
    assert [f.name for f in found] == ["musst_1:last__md5", "musst_2:last__md5"]
    assert made.discovered({"musst*:last__md5": ["musst_1:last__md5"]}, {}) == []  # known
    (gone,) = made.remove("musst_1:last__md5")
    assert gone.records[0].removed
    assert made.discovered({"musst*:last__md5": ["musst_1:last__md5"]}, {}) == []  # by hand


def test_removing_a_glob_removes_its_channels_and_the_glob():
    made = catalogue()
    made.configure(["m*:x type=int"], [])
    made.discovered({"m*:x": ["m1:x", "m2:x"]}, {})
    assert sorted(f.name for f in made.remove("m*:x")) == ["m1:x", "m2:x"]
    assert made.plan().globs == () and made.records() == []


def test_an_axis_glob_finds_axes_and_removing_the_axis_removes_its_channels():
    made = catalogue()
    made.configure([], ["rob*"])
    found = made.discovered({}, {"rob*": ["roby", "other"]})
    assert {f.name.split(".")[1] for f in found} == {"roby"}
    assert made.axes() == ["roby"]
    assert len(made.remove("rob*")) == 13 and made.records() == []


def test_adding_a_line_twice_is_refused_without_changing_anything():
    made = catalogue()
    made.configure(["x type=int"], [])
    with pytest.raises(LineError, match="already exposed"):
        made.add("x type=float")
    with pytest.raises(LineError, match="unknown type"):
        made.add("y type=flaot")
    assert [r.channel for r in made.records()] == ["x"]
    assert [f.name for f in made.add("g* type=int", ["g1", "x"])] == ["g1"]


def test_after_init_a_channel_gets_its_attribute_back_and_others_keep_their_names_taken():
    before = catalogue()
    before.configure(["x type=int", "x_y type=int"], [])
    known = {r.key: (r.name or "", str(r.kind)) for r in before.records()}
    after = catalogue(known)
    after.configure(["x type=int", "x.y type=int"], [])  # x_y is still an attribute
    assert names(after) == {"x": "x", "x.y": "x_y_2"}


def test_access_rw_on_an_axis_setting_found_by_a_glob_is_read_only_and_said():
    made = catalogue()
    made.configure(["axis.*.velocity access=rw type=float"], [])
    (feed,) = made.discovered({"axis.*.velocity": ["axis.roby.velocity"]}, {})
    assert not feed.records[0].writable
    assert "is a BLISS axis setting" in made.errors[0]
