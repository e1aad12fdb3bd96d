"""The catalogue on its own: lines and what the survey found in, wanted attributes out, no I/O.

What an operator writes in ``Channels`` and ``Axes`` decides what a Taurus panel lists; these
tests feed lines, survey findings and removals, and look at the attributes wanted. How their
names come out is the bridge's (the last tests, with a publisher in this process).
"""

from __future__ import annotations

import pytest

from tango_channels_device.bridge.attribute import View
from tango_channels_device.bridge.catalogue import Catalogue
from tango_channels_device.bridge.lifecycle import Phase
from tango_channels_device.bridge.lines import LineError


def wanted(catalogue: Catalogue) -> dict[str, str]:
    """Each wanted attribute's key and the line that decides it."""
    return {key: want.spec.line for key, want in catalogue.wanted().items()}


def test_channel_lines_are_wanted_at_once_and_glob_lines_as_the_survey_finds_them():
    made = Catalogue()
    made.configure(["axis.roby.position type=float", "musst*:last__md5"], [])
    assert list(wanted(made)) == ["axis.roby.position"]
    assert made.plan([], []).globs == ("musst*:last__md5",)
    assert made.discovered({"musst*:last__md5": ["musst_1:last__md5", "other"]}, {})
    assert list(wanted(made)) == ["axis.roby.position", "musst_1:last__md5"]
    assert not made.discovered({"musst*:last__md5": []}, {})  # gone from Redis: kept


def test_an_axis_is_fourteen_attributes_its_state_twice_its_position_following_it():
    made = Catalogue()
    made.configure([], ["roby unit=mm"])
    wants = made.wanted()
    assert len(wants) == 14
    assert wants["axis.roby.state names"].view is View.STATE_NAMES
    position = wants["axis.roby.position"]
    assert position.view is View.POSITION and position.axis_state == "axis.roby.state"
    assert position.spec.unit == "mm" and wants["axis.roby.velocity"].spec.unit == "mm/s"
    assert made.axes() == ["roby"]


def test_a_channel_two_lines_match_is_one_attribute_as_the_first_says():
    made = Catalogue()
    made.configure(["m*:x type=int unit=glob", "m1:x type=int unit=line"], [])
    made.discovered({"m*:x": ["m1:x", "m2:x"]}, {})
    assert made.wanted()["m1:x"].spec.unit == "line"  # a channel line before a glob
    made.remove("m1:x")  # the glob still matches it: kept, as the glob says
    assert made.wanted()["m1:x"].spec.unit == "glob"
    made.remove("m*:x")
    assert made.wanted() == {}


def test_removing_a_channel_a_glob_exposes_hides_it_until_a_line_matches_it_again():
    made = Catalogue()
    made.configure(["m*:x type=int"], [])
    made.discovered({"m*:x": ["m1:x", "m2:x"]}, {})
    made.remove("m1:x")
    assert list(wanted(made)) == ["m2:x"]
    made.discovered({"m*:x": ["m1:x", "m2:x"]}, {})
    assert list(wanted(made)) == ["m2:x"]  # the survey doesn't bring it back
    made.add("m1:x type=int")
    assert list(wanted(made)) == ["m1:x", "m2:x"]


def test_a_glob_line_removed_and_given_again_wants_its_channels_again():
    made = Catalogue()
    made.configure([], [])
    made.add("fz.* type=float", ["fz.c0", "fz.c1", "other"])
    assert list(wanted(made)) == ["fz.c0", "fz.c1"]
    made.remove("fz.*")
    assert wanted(made) == {}
    made.add("fz.* type=float unit=mm", ["fz.c0", "fz.c1"])
    assert made.wanted()["fz.c0"].spec.unit == "mm"


def test_an_axis_glob_finds_axes_and_removing_it_removes_their_attributes():
    made = Catalogue()
    made.configure([], ["rob*"])
    made.discovered({}, {"rob*": ["roby", "other"]})
    assert made.axes() == ["roby"]
    made.remove("rob*")
    assert made.wanted() == {} and made.axes() == []


def test_adding_a_line_twice_is_refused_without_changing_anything():
    made = Catalogue()
    made.configure(["x type=int"], [])
    with pytest.raises(LineError, match="already exposed"):
        made.add("x type=float")
    with pytest.raises(LineError, match="unknown type"):
        made.add("y type=flaot")
    with pytest.raises(KeyError):
        made.remove("nothing")
    assert list(wanted(made)) == ["x"]


def test_access_rw_on_an_axis_setting_found_by_a_glob_is_read_only_and_said():
    made = Catalogue()
    made.configure(["axis.*.velocity access=rw type=float"], [])
    made.discovered({"axis.*.velocity": ["axis.roby.velocity"]}, {})
    assert not made.wanted()["axis.roby.velocity"].spec.writable
    assert "is a BLISS axis setting" in made.refused_globs()[0]


def test_init_keeps_what_the_survey_found():
    made = Catalogue()
    made.configure(["g* type=int"], [])
    made.discovered({"g*": ["g1"]}, {})
    made.configure(["g* type=int", "h type=int"], [])  # Init, the glob kept
    assert list(wanted(made)) == ["h", "g1"]


# ---------------------------------------------------------------------- names (the bridge's)
def names(device) -> dict[str, str | None]:
    return {r.key: r.name for r in device.records.values() if r.phase is not Phase.RETIRED}


def test_colliding_names_get_suffixes_in_channel_name_order_and_state_is_taken(bridges):
    device, _ = bridges.channels(["a.b type=int", "a:b type=int", "state type=int"])
    assert names(device) == {"a.b": "a_b", "a:b": "a_b_2", "state": "state_2"}


def test_a_chosen_name_already_taken_refuses_that_line_only(bridges):
    device, _ = bridges.channels(["x type=int attr=Pos", "y type=int attr=pos", "z type=int"])
    assert set(names(device)) == {"x", "z"}
    assert "'y type=int attr=pos': attribute name 'pos' is already taken" in device.refused[0]


def test_after_init_a_channel_keeps_its_attribute_and_others_keep_their_names(bridges):
    device, _ = bridges.channels(["x type=int", "x_y type=int"])
    bridges.init(device, ["x type=int", "x.y type=int"])  # x_y is still an attribute
    assert names(device) == {"x": "x", "x.y": "x_y_2"}
    assert device.records["x_y"].phase is Phase.RETIRED
