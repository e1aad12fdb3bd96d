"""Golden tests over the 42 messages captured from real BLISS 2.4.0 (shared/bliss-wire)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tango_channels import (
    Opaque,
    Query,
    Reply,
    ValueMessage,
    decode,
    encode_query,
    encode_reply,
    encode_value,
)
from tango_channels.wire.encode import _dumps, _Query, _Value

# A copy of shared/bliss-wire/captured.json, so that a checkout alone runs the tests.
CAPTURED = Path(__file__).resolve().parent / "data" / "bliss-wire-captured.json"
MESSAGES = json.loads(CAPTURED.read_text())["messages"]
VALUES = [m for m in MESSAGES if m["kind"] in ("value", "event")]


def raw(message: dict) -> bytes:
    return base64.b64decode(message["pickle_b64"])


def type_path(value: object) -> str:
    if isinstance(value, Opaque):
        return value.class_path
    return f"{type(value).__module__}.{type(value).__qualname__}"


def ids(messages: list[dict]) -> list[str]:
    return [f"{i}-{m['channel']}-{m['kind']}" for i, m in enumerate(messages)]


@pytest.mark.parametrize("message", VALUES, ids=ids(VALUES))
def test_values_decode_to_what_bliss_decoded(message):
    msg = decode(raw(message))
    assert isinstance(msg, ValueMessage)
    assert msg.sender_id == message["sender_id"]
    assert msg.timestamp == message["timestamp"]
    assert type_path(msg.value) == message["value_type"]
    value, expected = msg.value, message["value_json"]
    if isinstance(value, numpy.ndarray):
        assert expected == {
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "data": value.tolist(),
        }
    elif message["value_type"] == "bliss.common.axis.state.AxisState":
        assert value.state["_current_states"] == expected["current_states"]
        assert value._current_states == expected["current_states"]  # readable as attribute
    elif message["value_type"].endswith("BaseShutterState"):
        assert value.args == (expected["enum_value"],)
    elif expected is not None:
        assert value == expected
    else:  # what JSON can't hold: compare with BLISS's repr
        assert repr(value) == message["value_repr"] or (
            isinstance(value, numpy.floating) and float(value) == float(message["value_repr"])
        )


@pytest.mark.parametrize("message", VALUES, ids=ids(VALUES))
def test_values_encode_to_the_same_bytes(message):
    msg = decode(raw(message))
    assert encode_value(msg.sender_id, msg.timestamp, msg.value).wire == raw(message)


def test_queries_and_replies_encode_to_the_same_bytes():
    for message in MESSAGES:
        msg = decode(raw(message))
        if message["kind"] == "query":
            assert msg == Query(message["channel"], message["query_id"])
            assert encode_query(msg.name, msg.id) == raw(message)
        elif message["kind"] == "reply":
            assert isinstance(msg, Reply) and msg.id == message["query_id"]
            held = msg.value and ValueMessage(
                msg.value.sender_id, msg.value.timestamp, msg.value.value
            )
            assert encode_reply(msg.name, msg.id, held) == raw(message)


@pytest.mark.parametrize("message", VALUES, ids=ids(VALUES))
def test_a_reply_re_sends_the_received_value_bytes(message):
    data = raw(message)
    held = decode(data)
    start, end = held.span
    reply = encode_reply("some.channel", "0" * 32, held)
    assert data[start:end] in reply
    again = decode(reply)
    assert (again.name, again.id) == ("some.channel", "0" * 32)
    assert again.value.sender_id == held.sender_id
    assert again.value.timestamp == held.timestamp
    assert type_path(again.value.value) == type_path(held.value)
    if isinstance(held.value, numpy.ndarray):
        assert numpy.array_equal(again.value.value, held.value)
    else:
        assert again.value.value == held.value


def test_numpy_is_written_under_numpy_1_paths():
    wire = encode_value("1", 1.0, numpy.arange(3.0)).wire
    assert b"numpy.core.multiarray" in wire and b"numpy._core" not in wire
    wire = encode_value("1", 1.0, numpy.float32(2.5)).wire
    assert b"numpy.core.multiarray" in wire and b"numpy._core" not in wire


plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=5), children, max_size=5)
        | st.tuples(children, children)
        | st.frozensets(st.integers(), max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    value=plain_values,
    sender=st.text(min_size=1, max_size=20),
    timestamp=st.floats(min_value=0, max_value=4e9),
)
def test_the_fast_path_writes_what_the_reference_pickler_writes(value, sender, timestamp):
    """Builtin values take the C-pickler shortcut; it must match the reference encoder."""
    fast = encode_value(sender, timestamp, value)
    assert fast.wire == _dumps(_Value(sender, timestamp, value))
    back = decode(fast.wire)
    assert back.sender_id == sender and back.timestamp == timestamp
    assert back.value == value and type(back.value) is type(value)


def test_large_values_are_framed_and_round_trip():
    big = list(range(50_000))
    msg = encode_value("1", 2.0, big)
    assert decode(msg.wire).value == big
    array = numpy.arange(100_000, dtype=numpy.float64).reshape(250, 400)
    assert numpy.array_equal(decode(encode_value("1", 2.0, array).wire).value, array)


@settings(max_examples=300)
@given(name=st.text(min_size=1, max_size=300), query_id=st.text(max_size=40))
def test_a_query_is_the_bytes_blisss_pickler_writes(name, query_id):
    """Queries are put together directly (10,000 at a device's start): byte for byte what
    the pickler BLISS uses writes, and what BLISS decodes."""
    expected = _dumps(_Query(name, query_id))
    assert encode_query(name, query_id) == expected
    decoded = decode(expected)
    assert isinstance(decoded, Query) and (decoded.name, decoded.id) == (name, query_id)
