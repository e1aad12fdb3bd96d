"""The Channels line grammar and the attribute naming rule, as Jive users write them."""

from __future__ import annotations

import pytest

from tango_channels_device.bridge.kinds import Kind
from tango_channels_device.bridge.lines import LineError, parse_axis_lines, parse_line, parse_lines
from tango_channels_device.bridge.naming import AttributeNamer, attribute_name
from tango_channels_device.bridge.settings import SettingSource


def test_a_full_line():
    spec = parse_line(
        "sample:target_x type=float access=rw unit=mm format=%.3f "
        'label="Roby position" description="the sample x" default=0.5'
    )
    assert spec.pattern == "sample:target_x" and spec.kind == Kind("float")
    assert spec.writable and spec.unit == "mm" and spec.format == "%.3f"
    assert spec.label == "Roby position" and spec.description == "the sample x"
    assert spec.default == 0.5 and not spec.is_glob


@pytest.mark.parametrize(
    ("text", "default"),
    [
        ("default=null", None),
        ("default=3", 3),
        ("default=unknown", "unknown"),
        ("""default='"quoted"'""", "quoted"),
        ("""default='{"gain": 2}'""", {"gain": 2}),
    ],
)
def test_defaults_are_json_or_plain_text(text, default):
    spec = parse_line(f"musst_1:last__md5 {text}")
    assert spec.default == default and spec.line == f"musst_1:last__md5 {text}"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("x type=flaot", "unknown type 'flaot'"),
        ("x acces=rw", "unknown key 'acces'"),
        ("x access=write", "access must be read or rw"),
        ("x type=state access=rw", "can't be written"),
        ("x type=enum", "type=enum needs its labels"),
        ("x type=spectrum:float128", "spectrum needs one of the dtypes"),
        ("axis.* attr=Foo", "not a glob's many"),
        ("x attr=1bad", "not a usable attribute name"),
        ("x default={broken", "not valid JSON"),
        ('x label="unclosed', "No closing quotation"),
        ("x unit", "is not key=value"),
        ('"" type=float', "the channel name is empty"),
        ("type=float", "the channel name is missing"),
        ("axis.roby.velocity access=rw", "is a BLISS axis setting: a value written on its"),
        ("axis.roby.state type=str access=rw", "is a BLISS axis state"),
        ("x setting=nofield", "setting= must be <hash key>/<field>"),
        ("x abs_change=big", "abs_change= must be a number"),
        ("x archive_period=1.5", "archive_period= must be a whole number"),
        ("x type=str max_alarm=3", "max_alarm= applies to numbers; a type=str channel makes"),
    ],
)
def test_bad_lines_say_what_is_wrong_and_quote_the_line(line, message):
    with pytest.raises(LineError, match=message) as error:
        parse_line(line)
    assert f"'{line}'" in str(error.value)


def test_a_property_keeps_its_good_lines_and_numbers_the_bad_ones():
    specs, errors = parse_lines(["a.b", "", "# a comment", "c type=flaot", "a.b unit=mm", "d.*"])
    assert [s.pattern for s in specs] == ["a.b", "d.*"]
    assert errors[0].startswith("line 4: unknown type 'flaot'")
    assert errors[1] == "line 5: 'a.b' is already on line 1"


def test_names_follow_the_rule():
    assert attribute_name("axis.roby.position") == "axis_roby_position"
    assert attribute_name("musst_1:last__md5") == "musst_1_last__md5"
    assert attribute_name("2theta") == "ch_2theta"
    assert attribute_name("µm ✓") == "_m__"
    long_name = attribute_name("x" * 1000)
    assert len(long_name) <= 120 and long_name != attribute_name("x" * 999)


def test_collisions_get_suffixes_in_channel_name_order():
    namer = AttributeNamer(["State", "Status", "ChannelNames"])
    names = namer.assign(["a_b", "A.b", "state", "a.b"])
    assert names == {"A.b": "A_b", "a.b": "a_b_2", "a_b": "a_b_3", "state": "state_2"}
    assert namer.assign(["a.b!"]) == {"a.b!": "a_b_"}


def test_settings_and_tango_attribute_properties():
    spec = parse_line(
        "axis.roby.position type=float abs_change=0.001 archive_abs_change=0.01 "
        "archive_period=60000 max_alarm=10 setting=axis.roby/position"
    )
    assert spec.setting == SettingSource("axis.roby", "position")
    assert dict(spec.properties) == {
        "abs_change": "0.001",
        "archive_abs_change": "0.01",
        "archive_period": "60000",
        "max_alarm": "10",
    }
    assert parse_line("axis.roby.move_stop type=bool access=rw").writable  # BLISS's own way


def test_axes_lines():
    specs, errors = parse_axis_lines(
        ["roby unit=mm format=%.3f label='Sample x'", "rob*", "axis.robz", "roby", "x acces=rw"]
    )
    assert [(s.pattern, s.unit, s.format, s.label) for s in specs] == [
        ("roby", "mm", "%.3f", "Sample x"),
        ("rob*", "", "", ""),
    ]
    assert errors == [
        "Axes line 3: 'axis.robz' is not an axis name (roby, rob*) in 'axis.robz'",
        "Axes line 4: 'roby' is already on Axes line 1",
        "Axes line 5: unknown key 'acces' in 'x acces=rw' (known: unit, format, label)",
    ]
