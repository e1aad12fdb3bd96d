"""Hostile and broken messages: decoding runs nothing, crashes nothing and stays bounded.

Anyone who can publish on a beamline's Redis can send a channel message. Every test here gives
:func:`decode` something built to hurt it and expects one of two outcomes: a channel message
(``ValueMessage``, ``Query``, ``Reply``) or ``DecodeError``. Never another exception, never a
command run or a module imported, never memory out of proportion to the message's size.

The hostile pickles are written with pickle's own opcodes (``pickletools`` names them) or by
pickling objects whose ``__reduce__`` says what to call. Where a payload is meant to run
something, a control test shows that ``pickle.loads`` on the very same bytes does run it.
"""

from __future__ import annotations

import base64
import builtins
import codecs
import collections
import datetime
import decimal
import fractions
import functools
import importlib
import io
import json
import os
import pickle
import random
import shlex
import signal
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tango_channels import DecodeError, Limits, Opaque, Query, Reply, ValueMessage, decode

# A copy of shared/bliss-wire/captured.json, so that a checkout alone runs the tests.
CAPTURED = Path(__file__).resolve().parent / "data" / "bliss-wire-captured.json"
_ENTRIES = json.loads(CAPTURED.read_text())["messages"]
MESSAGES = [base64.b64decode(m["pickle_b64"]) for m in _ENTRIES]
MESSAGE_IDS = [f"{i}-{m['channel']}-{m['kind']}" for i, m in enumerate(_ENTRIES)]

MiB = 1024 * 1024

try:  # exec() in a numpy helper: a classic way to run code through an allowed-looking module
    from numpy.testing._private.utils import runstring
except ImportError:  # private, numpy may drop it one day
    runstring = None


# ------------------------------------------------------------------ what decode may answer
def outcome(
    data: bytes, limits: Limits | None = None
) -> ValueMessage | Query | Reply | DecodeError:
    """What ``decode`` makes of ``data``: a channel message, or the DecodeError it raised.

    Any other exception propagates and fails the calling test, which is the point.
    """
    try:
        message = decode(data) if limits is None else decode(data, limits)
    except DecodeError as exc:
        # Without its traceback: the caller keeping the error must not keep this frame, and
        # through it the caller's own, in a cycle (memory tests measure the decoder, not us).
        return exc.with_traceback(None)
    assert isinstance(message, ValueMessage | Query | Reply)
    return message


def refused(data: bytes, limits: Limits | None = None) -> DecodeError:
    result = outcome(data, limits)
    assert isinstance(result, DecodeError), f"decoded to {result!r:.200}"
    return result


# Decoded at import, before any test ran: what every real message must keep decoding to.
_EXPECTED = [repr(decode(m)) for m in MESSAGES]
_PROBES = [28, 21, 24, 37, 39]  # an int, a numpy array, an enum, a query, a reply


def assert_decoder_intact(probes: list[int] = _PROBES) -> None:
    """Real messages still decode as before: no message altered the decoder for the next."""
    for i in probes:
        assert repr(decode(MESSAGES[i])) == _EXPECTED[i], MESSAGE_IDS[i]


@contextmanager
def peak_memory_grows_less_than(limit: int) -> Iterator[None]:
    """Fails if the memory allocated inside peaks ``limit`` bytes or more above what it was
    (tracemalloc, numpy's arrays included: this block's own peak, not the process's lifetime
    peak, which an earlier test may have set higher)."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not tracing:
            tracemalloc.stop()
    assert peak - before < limit, f"memory peaked {(peak - before) // MiB} MiB above the start"


# ------------------------------------------------------------------ writing pickles by hand
P = pickle  # opcodes: P.MARK == b"(", P.STACK_GLOBAL == b"\x93"...
PROTO_4 = P.PROTO + b"\x04"
WIRE = "bliss.config.channels"


def op_str(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    if len(data) < 256:
        return P.SHORT_BINUNICODE + bytes([len(data)]) + data
    return P.BINUNICODE + struct.pack("<I", len(data)) + data


def op_bytes(data: bytes) -> bytes:
    if len(data) < 256:
        return P.SHORT_BINBYTES + bytes([len(data)]) + data
    return P.BINBYTES8 + struct.pack("<Q", len(data)) + data


def op_int(n: int) -> bytes:
    if 0 <= n < 256:
        return P.BININT1 + bytes([n])
    if -(2**31) <= n < 2**31:
        return P.BININT + struct.pack("<i", n)
    data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return P.LONG4 + struct.pack("<i", len(data)) + data


def op_float(x: float) -> bytes:
    return P.BINFLOAT + struct.pack(">d", x)


def op_get(index: int) -> bytes:
    return P.BINGET + bytes([index]) if index < 256 else P.LONG_BINGET + struct.pack("<I", index)


def op_global(module: str, name: str) -> bytes:
    return op_str(module) + op_str(name) + P.STACK_GLOBAL


def op_tuple(*items: bytes) -> bytes:
    return P.MARK + b"".join(items) + P.TUPLE


def op_shape(shape: tuple[Any, ...]) -> bytes:
    return op_tuple(*(op_int(n) if isinstance(n, int) else op_str(str(n)) for n in shape))


#: The memo entries a BLISS ``_Value`` message holds when its value starts (see layout.py).
VALUE_MEMO = 4
_MEMO_PLACEHOLDERS = tuple(object() for _ in range(VALUE_MEMO))


def value_ops(obj: Any, memo_base: int = VALUE_MEMO) -> bytes:
    """The opcodes CPython's pickler writes for ``obj``, as read after ``memo_base`` entries."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=4)
    pickler.memo = {id(p): (i, p) for i, p in enumerate(_MEMO_PLACEHOLDERS[:memo_base])}
    pickler.dump(obj)
    data = buffer.getvalue()
    body = data[11:] if data[2:3] == P.FRAME else data[2:]
    assert body.endswith(P.STOP)
    return body[:-1]


def value_message(
    value: bytes, *, timestamp: bytes = op_float(1.5), sender: bytes = op_str("9845")
) -> bytes:
    """A ``_Value`` laid out as BLISS lays it out (memo 0-3 used), around ``value`` opcodes."""
    return b"".join(
        (
            PROTO_4,
            op_str(WIRE) + P.MEMOIZE + op_str("_Value") + P.MEMOIZE + P.STACK_GLOBAL + P.MEMOIZE,
            sender + P.MEMOIZE,
            timestamp,
            value,
            P.TUPLE3 + P.NEWOBJ + P.STOP,
        )
    )


def reply_message(value: bytes) -> bytes:
    """A ``_Reply`` carrying a ``_Value`` (memo 0-3 used before ``value``, as in BLISS's)."""
    return b"".join(
        (
            PROTO_4,
            op_str(WIRE) + P.MEMOIZE + op_str("_Reply") + P.STACK_GLOBAL,
            P.EMPTY_TUPLE + P.NEWOBJ + P.EMPTY_DICT + P.MARK,
            op_str("name") + op_str("hostile") + op_str("id") + op_str("q1") + op_str("value"),
            op_get(0) + op_str("_Value") + P.MEMOIZE + P.STACK_GLOBAL + P.MEMOIZE,
            op_str("9845") + P.MEMOIZE + op_float(1.5),
            value,
            P.TUPLE3 + P.NEWOBJ + P.SETITEMS + P.BUILD + P.STOP,
        )
    )


def top_level(ops: bytes) -> bytes:
    return PROTO_4 + ops + P.STOP


def via_python_unpickler(ops: bytes) -> bytes:
    """``ops`` followed by a no-op memo store at index 2**20 (push, LONG_BINPUT, pop).

    The decoder gives messages holding such a store to the pure-Python unpickler instead of
    the C one, so tests parametrised with this run the same attack through both.
    """
    return ops + P.NONE + P.LONG_BINPUT + struct.pack("<I", 2**20) + P.POP


UNPICKLERS = {"C": lambda ops: ops, "python": via_python_unpickler}


def test_the_hand_built_envelopes_carry_ordinary_values():
    # The tests below expect DecodeError from these envelopes: first show they are sound.
    ops = value_ops([1, "a", None, {"b": (2.5, b"c")}])
    expected = ValueMessage("9845", 1.5, [1, "a", None, {"b": (2.5, b"c")}])
    for wrap in UNPICKLERS.values():
        message = decode(value_message(wrap(ops)))
        assert message[:3] == expected[:3]
        assert decode(reply_message(wrap(ops))) == Reply("hostile", "q1", expected)


# ------------------------------------------------------------------ 1. payloads that run things
class Call:
    """Pickles as ``function(*args)``: what a hostile sender writes with ``__reduce__``."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.function, self.args

    def __call__(self, *args: Any) -> None:
        # Only there because pickle wants the function of a __reduce__ to look callable
        # when it is itself a Call (getattr(__import__("os"), "system")(...)).
        raise AssertionError("never called")


@dataclass
class Hostile:
    """What one payload needs: a file it must not create, a module it must not import."""

    marker: Path
    module: str

    @property
    def command(self) -> str:
        return f"touch {shlex.quote(str(self.marker))}"

    @property
    def code(self) -> str:
        return f"__import__('pathlib').Path({str(self.marker)!r}).touch()"

    def happened(self) -> bool:
        return self.marker.exists() or self.module in sys.modules


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hostile]:
    """A marker file path, and an importable module that creates it when imported."""
    h = Hostile(tmp_path / "pwned", f"hostile_{uuid.uuid4().hex}")
    (tmp_path / f"{h.module}.py").write_text(f"{h.code}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield h
    sys.modules.pop(h.module, None)


def _raw(text: str) -> Callable[[Hostile], bytes]:
    """A protocol-0 payload written by hand; ``{cmd}``/``{code}`` are filled in."""
    return lambda h: text.format(cmd=h.command, code=h.code).encode()


#: name -> (payload built for a Hostile, what the DecodeError says)
PAYLOADS: dict[str, tuple[Callable[[Hostile], Any], str]] = {
    "os.system (pickled as posix.system)": (
        lambda h: Call(os.system, h.command),
        r"refused global posix\.system",
    ),
    "os.system, protocol 0 GLOBAL": (
        _raw("cos\nsystem\n(V{cmd}\ntR"),
        r"refused global os\.system",
    ),
    "os.system, protocol 0 INST": (_raw("(V{cmd}\nios\nsystem\n"), r"refused global os\.system"),
    "os.system, protocol 0 OBJ": (_raw("(cos\nsystem\nV{cmd}\no"), r"refused global os\.system"),
    "posix.system, protocol 0": (_raw("cposix\nsystem\n(V{cmd}\ntR"), r"refused global posix"),
    "subprocess.Popen": (
        lambda h: Call(subprocess.Popen, ["touch", str(h.marker)]),
        r"refused global subprocess\.Popen",
    ),
    "subprocess.check_output": (
        lambda h: Call(subprocess.check_output, ["touch", str(h.marker)]),
        r"refused global subprocess\.check_output",
    ),
    "builtins.eval": (lambda h: Call(eval, h.code), r"refused global builtins\.eval"),
    "builtins.exec": (lambda h: Call(exec, h.code), r"refused global builtins\.exec"),
    "builtins.getattr(__import__('os'), 'system')": (
        lambda h: Call(Call(getattr, Call(__import__, "os"), "system"), h.command),
        r"refused global builtins\.getattr",
    ),
    "builtins.__import__": (
        lambda h: Call(builtins.__import__, h.module),
        r"refused global builtins\.__import__",
    ),
    "importlib.import_module": (
        lambda h: Call(importlib.import_module, h.module),
        r"refused global importlib\.import_module",
    ),
    "pickle.loads of a nested os.system pickle": (
        lambda h: Call(pickle.loads, pickle.dumps(Call(os.system, h.command))),
        r"refused global _pickle\.loads",
    ),
    "codecs.decode feeding builtins.exec": (
        lambda h: Call(exec, Call(codecs.decode, h.code.encode().hex(), "hex")),
        r"refused global builtins\.exec",
    ),
    "__builtin__.eval, the Python 2 name pickle maps to builtins": (
        _raw("c__builtin__\neval\n(V{code}\ntR"),
        r"refused global __builtin__\.eval",
    ),
}
if runstring is not None:
    PAYLOADS["numpy.testing runstring (exec)"] = (
        lambda h: Call(runstring, h.code, {}),
        r"refused global numpy\.testing\._private\.utils\.runstring",
    )


def payload_ops(name: str, h: Hostile, memo_base: int) -> bytes:
    made = PAYLOADS[name][0](h)
    return made if isinstance(made, bytes) else value_ops(made, memo_base)


def payload_alone(name: str, h: Hostile) -> bytes:
    """The payload as a whole pickle: hand-written ones as protocol 0, as exploits are written
    (pickle maps Python 2 names such as ``__builtin__`` only below protocol 3)."""
    made = PAYLOADS[name][0](h)
    return made + P.STOP if isinstance(made, bytes) else pickle.dumps(made, protocol=4)


WRAPPINGS: dict[str, Callable[[str, Hostile], bytes]] = {
    "top-level": payload_alone,
    "in a _Value": lambda name, h: value_message(payload_ops(name, h, VALUE_MEMO)),
    "in a _Reply's _Value": lambda name, h: reply_message(payload_ops(name, h, VALUE_MEMO)),
}


@pytest.mark.parametrize("name", PAYLOADS)
def test_control_the_payloads_do_run_under_pickle_loads(name, hostile):
    result = pickle.loads(WRAPPINGS["top-level"](name, hostile))
    if isinstance(result, subprocess.Popen):
        result.wait()
    assert hostile.happened()


@pytest.mark.parametrize("wrapping", WRAPPINGS)
@pytest.mark.parametrize("name", PAYLOADS)
def test_payloads_are_refused_and_run_nothing(name, wrapping, hostile):
    data = WRAPPINGS[wrapping](name, hostile)
    # The refusal names the first global met: nothing was called before it.
    with pytest.raises(DecodeError, match=PAYLOADS[name][1]):
        decode(data)
    assert not hostile.happened()
    assert_decoder_intact()


REFUSED_GLOBALS = [
    ("os", "system"),
    ("os.path", "join"),
    ("posix", "system"),
    ("nt", "system"),
    ("subprocess", "Popen"),
    ("_posixsubprocess", "fork_exec"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "compile"),
    ("builtins", "getattr"),
    ("builtins", "setattr"),
    ("builtins", "__import__"),
    ("builtins", "open"),
    ("builtins", "dict"),
    ("builtins", "object"),
    ("builtins", "type"),
    ("importlib", "import_module"),
    ("pickle", "loads"),
    ("_pickle", "loads"),
    ("marshal", "loads"),
    ("codecs", "decode"),
    ("_codecs", "encode"),
    ("types", "FunctionType"),
    ("types", "CodeType"),
    ("ctypes", "CDLL"),
    ("functools", "partial"),
    ("operator", "attrgetter"),
    ("copyreg", "_reconstructor"),
    ("runpy", "run_path"),
    ("shutil", "rmtree"),
    ("io", "open"),
    ("sys", "exit"),
    ("__builtin__", "getattr"),
    ("copy_reg", "_reconstructor"),
    ("cPickle", "loads"),
    ("exceptions", "Exception"),
    ("numpy", "load"),
    ("numpy", "frombuffer"),
    ("numpy.lib.npyio", "load"),
    ("numpy.testing._private.utils", "runstring"),
    ("numpy.core.multiarray", "frombuffer"),
]


@pytest.mark.parametrize(
    ("module", "name"), REFUSED_GLOBALS, ids=[".".join(g) for g in REFUSED_GLOBALS]
)
def test_globals_outside_the_allow_list_are_refused_even_uncalled(module, name):
    with pytest.raises(DecodeError, match=f"refused global {module}.{name}"):
        decode(value_message(op_global(module, name)))
    with pytest.raises(DecodeError, match=f"refused global {module}.{name}"):
        decode(value_message(f"c{module}\n{name}\n".encode()))  # protocol 0 GLOBAL


@pytest.mark.parametrize(
    "ops",
    [
        P.EXT1 + b"\x01",
        P.EXT2 + b"\x00\x01",
        P.EXT4 + b"\xff\xff\xff\x7f",
        P.PERSID + b"os.system\n",
        op_str("os.system") + P.BINPERSID,
        P.NEXT_BUFFER,
        P.NEXT_BUFFER + P.READONLY_BUFFER,
    ],
    ids=["EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER", "READONLY_BUFFER"],
)
def test_extension_persistent_and_buffer_opcodes_are_refused(ops):
    refused(value_message(ops))
    refused(top_level(ops))


ALLOWED_GLOBALS = [
    (WIRE, "_Value"),
    (WIRE, "_Query"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "bytearray"),
    ("builtins", "set"),
    ("collections", "OrderedDict"),
    ("datetime", "timezone"),
    ("mymodule", "Thing"),
]


@pytest.mark.parametrize(
    ("module", "name"), ALLOWED_GLOBALS, ids=[".".join(g) for g in ALLOWED_GLOBALS]
)
@pytest.mark.parametrize("state", ["dict", "slots"])
def test_build_on_an_allowed_global_changes_nothing_for_later_messages(module, name, state):
    # BUILD on a class or function sets attributes on it: our decoder's own objects must not
    # take them (one message could otherwise break, or steer, every message after it).
    attributes = op_str("fields") + op_int(1) + op_str("__defaults__") + P.EMPTY_TUPLE
    build = P.EMPTY_DICT + P.MARK + attributes + P.SETITEMS
    if state == "slots":
        build = P.NONE + build + P.TUPLE2
    target = op_global(module, name)
    refused(value_message(target + build + P.BUILD))
    refused(top_level(target + build + P.BUILD))
    assert_decoder_intact(list(range(len(MESSAGES))))


FUNCTION_GLOBALS = [g for g in ALLOWED_GLOBALS if g[0].startswith("numpy") or g[0] == "builtins"]


def test_state_given_to_allowed_functions_is_not_kept_from_message_to_message():
    # BUILD on a plain function stores its state in the function's __dict__, for good: 150
    # messages each leaving 1 MiB there would hold 150 MiB after they were all refused.
    payload = b"\0" * MiB
    with peak_memory_grows_less_than(100 * MiB):
        for i in range(150):
            module, name = FUNCTION_GLOBALS[i % len(FUNCTION_GLOBALS)]
            state = P.EMPTY_DICT + op_str(f"k{i}") + op_bytes(payload) + P.SETITEM
            refused(value_message(op_global(module, name) + state + P.BUILD))


# ------------------------------------------------------------------ 2. memory and size bombs
@pytest.mark.parametrize(
    ("store", "fetch"),
    [
        (P.LONG_BINPUT + struct.pack("<I", 2**30), P.LONG_BINGET + struct.pack("<I", 2**30)),
        (
            P.LONG_BINPUT + struct.pack("<I", 2**32 - 1),
            P.LONG_BINGET + struct.pack("<I", 2**32 - 1),
        ),
        (P.PUT + b"1073741824\n", P.GET + b"1073741824\n"),
    ],
    ids=["LONG_BINPUT 2**30", "LONG_BINPUT 2**32-1", "PUT 2**30"],
)
def test_a_huge_memo_index_costs_no_memory(store, fetch):
    # CPython's C unpickler would size its memo array to the index: 16 GiB for 2**30.
    with peak_memory_grows_less_than(100 * MiB):
        message = decode(value_message(op_str("kept") + store + P.POP + fetch))
        refused(PROTO_4 + P.NONE + store + P.STOP)  # a few bytes, not a channel message
    assert message.value == "kept"


def nested_sharing(
    levels: int,
    width: int,
    *,
    kind: bytes = P.LIST,
    leaf: bytes = P.NONE,
    first_memo: int = VALUE_MEMO,
) -> bytes:
    """A container holding the one below ``width`` times, ``levels`` deep, by memo reference.

    Uses memo indices ``first_memo`` to ``first_memo + levels`` (by default those after a
    _Value's own four). Expands to ``width**levels`` leaves.
    """
    ops, index = leaf + P.MEMOIZE + P.POP, first_memo
    for _ in range(levels):
        ops += P.MARK + op_get(index) * width + kind + P.MEMOIZE + P.POP
        index += 1
    return ops + op_get(index)


BOMB = nested_sharing(30, 10)  # 10**30 leaves from ~700 bytes


def _numpy_dtype_ops(code: str = "f8", state: bytes | None = None) -> bytes:
    if state is None:
        state = op_tuple(op_int(3), op_str("<"), P.NONE * 3, op_int(-1), op_int(-1), op_int(0))
    return (
        op_global("numpy", "dtype")
        + op_str(code)
        + P.NEWFALSE
        + P.NEWTRUE
        + P.TUPLE3
        + P.REDUCE
        + state
        + P.BUILD
    )


def _numpy_array_ops(state: bytes) -> bytes:
    head = op_global("numpy.core.multiarray", "_reconstruct") + op_global("numpy", "ndarray")
    return head + op_int(0) + P.TUPLE1 + op_bytes(b"b") + P.TUPLE3 + P.REDUCE + state + P.BUILD


BOMB_PLACES: dict[str, bytes] = {
    "the value": value_message(BOMB),
    "a dict value": value_message(P.EMPTY_DICT + op_str("k") + BOMB + P.SETITEM),
    "a tuple": value_message(op_tuple(op_int(1), BOMB)),
    "an opaque's state": value_message(
        op_global("mymodule", "Thing") + P.EMPTY_TUPLE + P.NEWOBJ + BOMB + P.BUILD
    ),
    "an opaque's arguments": value_message(
        op_global("mymodule", "Thing") + BOMB + P.TUPLE1 + P.REDUCE
    ),
    "the timestamp": value_message(P.NONE, timestamp=BOMB),
    "a reply's value": reply_message(BOMB),
    "a numpy dtype state": value_message(_numpy_dtype_ops(state=BOMB)),
    "a numpy dtype code": value_message(
        op_global("numpy", "dtype") + BOMB + P.NEWFALSE + P.NEWTRUE + P.TUPLE3 + P.REDUCE
    ),
    "a numpy array state": value_message(_numpy_array_ops(BOMB)),
    "a numpy array shape": value_message(
        _numpy_array_ops(op_tuple(op_int(1), BOMB, _numpy_dtype_ops(), P.NEWFALSE, op_bytes(b"")))
    ),
    "a _frombuffer order": value_message(
        op_global("numpy.core.numeric", "_frombuffer")
        + op_tuple(op_bytes(b""), _numpy_dtype_ops(), op_shape((0,)), BOMB)
        + P.REDUCE
    ),
}


@pytest.mark.parametrize("unpickler", UNPICKLERS)
@pytest.mark.parametrize("place", BOMB_PLACES)
def test_a_repetition_bomb_is_refused_wherever_it_sits(place, unpickler):
    data = BOMB_PLACES[place]
    if unpickler == "python":
        data = data[:-1] + via_python_unpickler(b"") + P.STOP
    with peak_memory_grows_less_than(100 * MiB):
        refused(data)


def test_the_expansion_limit_counts_shared_references_each_time():
    shared = nested_sharing(3, 10)  # 1,000 leaves, 1,111 nodes in all
    assert decode(value_message(shared)).value == [[[None] * 10] * 10] * 10
    assert decode(value_message(shared), Limits(max_nodes=1_200)).value[9][9][9] is None
    with pytest.raises(DecodeError, match="expands to more than 1000 items"):
        decode(value_message(shared), Limits(max_nodes=1_000))


DEPTH = 100_000


def _deep_opaque(depth: int) -> bytes:
    # Thing(Thing(Thing(... None))): all the classes first, then argument tuple and call.
    return op_global("mymodule", "Thing") * depth + P.NONE + (P.TUPLE1 + P.REDUCE) * depth


DEEP: dict[str, bytes] = {
    "lists": P.EMPTY_LIST * DEPTH + P.APPEND * (DEPTH - 1),
    "dicts": (P.EMPTY_DICT + op_int(0)) * DEPTH + P.NONE + P.SETITEM * DEPTH,
    "tuples": P.NONE + P.TUPLE1 * DEPTH,
    "frozensets of tuples": P.MARK * DEPTH + P.NONE + (P.TUPLE1 + P.FROZENSET) * DEPTH,
    "opaque arguments": _deep_opaque(DEPTH // 10),
}


@pytest.mark.parametrize("unpickler", UNPICKLERS)
@pytest.mark.parametrize("shape", DEEP)
def test_deep_nesting_is_refused_without_recursion_error(shape, unpickler):
    ops = UNPICKLERS[unpickler](DEEP[shape])
    # Refused by the depth limit on the value, or earlier by the check of set members.
    with pytest.raises(DecodeError, match=r"nested deeper than 100 levels|too complex to hash"):
        decode(value_message(ops))
    refused(top_level(ops))
    refused(value_message(P.NONE, timestamp=ops))
    refused(reply_message(ops))


def test_nesting_up_to_the_depth_limit_is_a_value():
    ops = P.EMPTY_LIST * 100 + P.APPEND * 99
    value = decode(value_message(ops)).value
    for _ in range(99):
        (value,) = value
    assert value == []
    with pytest.raises(DecodeError, match="nested deeper than 10 levels"):
        decode(value_message(ops), Limits(max_depth=10))


def _bytes_value_message(size: int) -> bytes:
    return value_message(P.BINBYTES8 + struct.pack("<Q", size) + b"\0" * size)


def test_a_message_100_times_over_the_size_limit_is_refused_unread():
    limits = Limits(max_bytes=64 * 1024)
    assert isinstance(decode(_bytes_value_message(60 * 1024), limits), ValueMessage)
    with pytest.raises(DecodeError, match="exceeds 65536"):
        decode(_bytes_value_message(100 * 64 * 1024), limits)
    # Refused before unpickling: a hostile payload past the limit is not even looked at.
    with pytest.raises(DecodeError, match="exceeds 65536"):
        decode(value_message(op_global("os", "system") + b"\0" * limits.max_bytes), limits)


def test_a_17_mb_message_is_refused_at_the_default_limit():
    data = _bytes_value_message(17 * 1000 * 1000)
    with peak_memory_grows_less_than(100 * MiB), pytest.raises(DecodeError, match="exceeds"):
        decode(data)
    assert isinstance(decode(_bytes_value_message(15 * MiB)).value, bytes)


@pytest.mark.parametrize(
    "ops",
    [
        P.BINBYTES8 + struct.pack("<Q", 2**33),
        P.BINBYTES8 + struct.pack("<Q", 2**62),
        P.BINUNICODE8 + struct.pack("<Q", 2**33),
        P.BYTEARRAY8 + struct.pack("<Q", 2**33),
        P.BINBYTES + struct.pack("<I", 2**32 - 1),
        P.LONG4 + struct.pack("<i", 2**31 - 1),
        P.FRAME + struct.pack("<Q", 2**62),
        P.FRAME + struct.pack("<Q", 2**33) + P.NONE,
    ],
    ids=[
        "BINBYTES8 8G",
        "BINBYTES8 2**62",
        "BINUNICODE8 8G",
        "BYTEARRAY8 8G",
        "BINBYTES 4G",
        "LONG4 2G",
        "FRAME 2**62",
        "FRAME 8G",
    ],
)
def test_a_message_claiming_gigabytes_is_refused_without_allocating_them(ops):
    with peak_memory_grows_less_than(100 * MiB):
        refused(value_message(ops))
        refused(top_level(ops))


# ------------------------------------------------------------------ 3. numpy
def array_state(shape: tuple[Any, ...], dtype: bytes, data: bytes, fortran: bool = False) -> bytes:
    return op_tuple(
        op_int(1), op_shape(shape), dtype, P.NEWTRUE if fortran else P.NEWFALSE, op_bytes(data)
    )


def test_control_a_hand_built_array_decodes():
    data = numpy.arange(6, dtype="<f8").tobytes()
    value = decode(
        value_message(_numpy_array_ops(array_state((2, 3), _numpy_dtype_ops(), data)))
    ).value
    assert value.dtype == numpy.dtype("<f8")
    assert value.tolist() == [[0, 1, 2], [3, 4, 5]]


HUGE = 10**10
NUMPY_ATTACKS: dict[str, bytes] = {
    "numpy.ndarray called with a huge shape": (
        op_global("numpy", "ndarray") + op_tuple(op_shape((HUGE,)), op_str("f8")) + P.REDUCE
    ),
    "numpy.ndarray called with object dtype": (
        op_global("numpy", "ndarray") + op_tuple(op_shape((4,)), op_str("O")) + P.REDUCE
    ),
    "_reconstruct with a huge shape": (
        op_global("numpy.core.multiarray", "_reconstruct")
        + op_tuple(op_global("numpy", "ndarray"), op_shape((HUGE,)), op_bytes(b"b"))
        + P.REDUCE
    ),
    "_reconstruct of something else than ndarray": (
        op_global("numpy.core.multiarray", "_reconstruct")
        + op_tuple(op_global("mymodule", "Thing"), op_shape((0,)), op_bytes(b"b"))
        + P.REDUCE
    ),
    "array state: huge shape, 8 bytes": _numpy_array_ops(
        array_state((HUGE,), _numpy_dtype_ops(), b"\0" * 8)
    ),
    "array state: huge shape with a zero": _numpy_array_ops(
        array_state((0, 2**62), _numpy_dtype_ops(), b"")
    ),
    "array state: shape (3,) with 16 bytes": _numpy_array_ops(
        array_state((3,), _numpy_dtype_ops(), b"\0" * 16)
    ),
    "array state: shape (2,) with 24 bytes": _numpy_array_ops(
        array_state((2,), _numpy_dtype_ops(), b"\0" * 24)
    ),
    "array state: negative shape": _numpy_array_ops(array_state((-1,), _numpy_dtype_ops(), b"")),
    "array state: shape of strings": _numpy_array_ops(array_state(("a",), _numpy_dtype_ops(), b"")),
    "array state: 33 dimensions": _numpy_array_ops(
        array_state((1,) * 33, _numpy_dtype_ops(), b"\0" * 8)
    ),
    "array state: data not bytes": _numpy_array_ops(
        op_tuple(op_int(1), op_shape((1,)), _numpy_dtype_ops(), P.NEWFALSE, value_ops([0.0]))
    ),
    "array state: dtype not a dtype": _numpy_array_ops(array_state((1,), op_str("f8"), b"\0" * 8)),
    "array state: order flag not a bool": _numpy_array_ops(
        op_tuple(op_int(1), op_shape((1,)), _numpy_dtype_ops(), op_int(1), op_bytes(b"\0" * 8))
    ),
    "array without its state": (
        op_global("numpy.core.multiarray", "_reconstruct")
        + op_tuple(op_global("numpy", "ndarray"), op_shape((0,)), op_bytes(b"b"))
        + P.REDUCE
    ),
    "object dtype O8": _numpy_array_ops(array_state((1,), _numpy_dtype_ops("O8"), b"\0" * 8)),
    "object dtype O": _numpy_dtype_ops("O"),
    "structured dtype V8 with fields": _numpy_dtype_ops(
        "V8",
        op_tuple(
            op_int(3),
            op_str("|"),
            P.NONE,
            op_tuple(op_str("a")),
            value_ops({"a": (None, 0)}),
            op_int(8),
            op_int(1),
            op_int(16),
        ),
    ),
    "fields in the state of a plain dtype": _numpy_dtype_ops(
        "f8",
        op_tuple(
            op_int(3),
            op_str("<"),
            P.NONE,
            op_tuple(op_str("a")),
            P.EMPTY_DICT,
            op_int(-1),
            op_int(-1),
            op_int(0),
        ),
    ),
    "dtype from a list of fields": (
        op_global("numpy", "dtype") + P.EMPTY_LIST + P.NEWFALSE + P.NEWTRUE + P.TUPLE3 + P.REDUCE
    ),
    "datetime dtype": _numpy_dtype_ops("M8[ns]"),
    "dtype with the wrong item size": _numpy_dtype_ops(
        "f8", op_tuple(op_int(3), op_str("<"), P.NONE * 3, op_int(4), op_int(-1), op_int(0))
    ),
    "zero-size dtype S0 with a huge shape": _numpy_array_ops(
        array_state((2**40,), _numpy_dtype_ops("S0"), b"")
    ),
    "zero-size dtype U0 scalar": (
        op_global("numpy.core.multiarray", "scalar")
        + op_tuple(_numpy_dtype_ops("U0"), op_bytes(b""))
        + P.REDUCE
    ),
    "scalar of object dtype": (
        op_global("numpy.core.multiarray", "scalar")
        + op_tuple(_numpy_dtype_ops("O8"), op_bytes(b"\0" * 8))
        + P.REDUCE
    ),
    "scalar with too few bytes": (
        op_global("numpy.core.multiarray", "scalar")
        + op_tuple(_numpy_dtype_ops(), op_bytes(b"\0" * 3))
        + P.REDUCE
    ),
    "_frombuffer with a huge shape": (
        op_global("numpy.core.numeric", "_frombuffer")
        + op_tuple(op_bytes(b"\0" * 8), _numpy_dtype_ops(), op_shape((HUGE,)), op_str("C"))
        + P.REDUCE
    ),
    "_frombuffer of a list": (
        op_global("numpy.core.numeric", "_frombuffer")
        + op_tuple(value_ops([1.0]), _numpy_dtype_ops(), op_shape((1,)), op_str("C"))
        + P.REDUCE
    ),
    "bytearray(10**10)": op_global("builtins", "bytearray") + op_int(HUGE) + P.TUPLE1 + P.REDUCE,
    "bytearray(a list of ints)": (
        op_global("builtins", "bytearray")
        + P.EMPTY_LIST
        + P.MARK
        + op_int(1) * 1000
        + P.APPENDS
        + P.TUPLE1
        + P.REDUCE
    ),
}


@pytest.mark.parametrize("attack", NUMPY_ATTACKS)
def test_numpy_attacks_are_refused_without_big_allocations(attack):
    with peak_memory_grows_less_than(100 * MiB):
        refused(value_message(NUMPY_ATTACKS[attack]))
        refused(value_message(via_python_unpickler(NUMPY_ATTACKS[attack])))
    assert_decoder_intact()


# ------------------------------------------------------------------ 4. truncated and flipped
@pytest.mark.parametrize("data", MESSAGES, ids=MESSAGE_IDS)
def test_every_strict_prefix_of_a_real_message_is_refused(data):
    # STOP is a message's last byte, so no strict prefix is a complete pickle.
    assert isinstance(outcome(data), ValueMessage | Query | Reply)
    for end in range(len(data)):
        refused(data[:end])


@pytest.mark.parametrize(("index", "data"), list(enumerate(MESSAGES)), ids=MESSAGE_IDS)
def test_random_byte_flips_of_real_messages_decode_or_are_refused(index, data):
    rng = random.Random(index)  # the same flips on every run
    results = []
    for _ in range(300):
        mutant = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            position = rng.randrange(len(mutant))
            mutant[position] = (mutant[position] + rng.randrange(1, 256)) % 256
        results.append(outcome(bytes(mutant)))
    assert_decoder_intact()
    # Both outcomes occur: the flips reach past the first checks.
    assert any(isinstance(r, DecodeError) for r in results)
    assert any(not isinstance(r, DecodeError) for r in results)


# ------------------------------------------------------------------ 5. fuzzing
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400) | st.binary(max_size=400).map(lambda b: PROTO_4 + b))
def test_fuzz_arbitrary_bytes(data):
    outcome(data)


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(MESSAGES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "splice", "repeat"]))
        start = draw(st.integers(0, len(data)))
        end = draw(st.integers(start, min(len(data), start + 16)))
        if kind == "insert":
            data[start:start] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[start:end]
        elif kind == "replace":
            data[start:end] = draw(st.binary(min_size=end - start, max_size=end - start))
        elif kind == "splice":
            other = draw(st.sampled_from(MESSAGES))
            data[start:] = other[draw(st.integers(0, len(other))) :]
        else:
            data[end:end] = data[start:end] * draw(st.integers(1, 50))
    return bytes(data)


@settings(max_examples=800, deadline=None)
@given(mutated_messages())
def test_fuzz_mutated_real_messages(data):
    outcome(data)
    assert_decoder_intact()


_SOUP_GLOBALS = [
    (WIRE, "_Value"),
    (WIRE, "_Query"),
    (WIRE, "_Reply"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "bytearray"),
    ("builtins", "complex"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "OrderedDict"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("mymodule", "Thing"),
    ("mymodule", "Color"),
    ("os", "system"),
]
_SOUP_TOKENS = [
    *(op_global(m, n) for m, n in _SOUP_GLOBALS),
    *(
        op_str(s)
        for s in ("", "a", "b", "C", "f8", "<U3", "name", "id", "value", "fields", "latin1")
    ),
    *(op_int(n) for n in (-1, 0, 1, 2, 3, 8, 2**40)),
    op_bytes(b""),
    op_bytes(b"b"),
    op_bytes(b"\0" * 8),
    op_float(1.5),
    op_float(float("nan")),
    P.NONE,
    P.NEWTRUE,
    P.NEWFALSE,
    P.EMPTY_LIST,
    P.EMPTY_DICT,
    P.EMPTY_TUPLE,
    P.EMPTY_SET,
    P.MARK,
    P.TUPLE,
    P.TUPLE1,
    P.TUPLE2,
    P.TUPLE3,
    P.LIST,
    P.DICT,
    P.FROZENSET,
    P.APPEND,
    P.APPENDS,
    P.SETITEM,
    P.SETITEMS,
    P.ADDITEMS,
    P.REDUCE,
    P.NEWOBJ,
    P.NEWOBJ_EX,
    P.BUILD,
    P.POP,
    P.POP_MARK,
    P.DUP,
    P.MEMOIZE,
    *(op_get(i) for i in range(8)),
]


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from(_SOUP_TOKENS), max_size=40).map(b"".join),
    st.sampled_from([value_message, reply_message, top_level]),
)
def test_fuzz_opcode_soup_in_real_envelopes(ops, wrap):
    outcome(wrap(ops))
    assert_decoder_intact()


# ------------------------------------------------------------------ 6. classes we do not have
def test_an_unknown_class_becomes_an_opaque_record_and_is_not_imported(hostile):
    ops = (
        op_global(hostile.module, "Thing")
        + op_tuple(op_int(1), op_str("a"))
        + P.NEWOBJ
        + P.EMPTY_DICT
        + P.MARK
        + op_str("speed")
        + op_float(2.5)
        + op_str("parts")
        + value_ops(["x", "y"])
        + P.SETITEMS
        + P.BUILD
    )
    for wrap in UNPICKLERS.values():
        value = decode(value_message(wrap(ops))).value
        assert isinstance(value, Opaque)
        assert value.class_path == f"{hostile.module}.Thing"
        assert (value.args, value.kwargs) == ((1, "a"), {})
        assert value.state == {"speed": 2.5, "parts": ["x", "y"]}
        assert value.speed == 2.5
    assert not hostile.happened()


def test_opaque_records_calls_keyword_arguments_items_and_entries():
    called = (
        op_global("bliss.common.base_shutter", "BaseShutterState")
        + op_tuple(op_str("Open"))
        + P.REDUCE
    )
    with_kwargs = (
        op_global("mymodule", "Thing")
        + op_tuple(op_int(1))
        + P.EMPTY_DICT
        + op_str("unit")
        + op_str("mm")
        + P.SETITEM
        + P.NEWOBJ_EX
    )
    as_list = (
        op_global("mymodule", "Items")
        + P.EMPTY_TUPLE
        + P.NEWOBJ
        + P.MARK
        + op_int(1)
        + op_int(2)
        + P.APPENDS
    )
    as_dict = (
        op_global("mymodule", "Entries")
        + P.EMPTY_TUPLE
        + P.NEWOBJ
        + op_str("k")
        + op_int(3)
        + P.SETITEM
    )
    value = decode(value_message(op_tuple(called, with_kwargs, as_list, as_dict))).value
    shutter, thing, items, entries = value
    assert (shutter.class_path, shutter.args, shutter.state) == (
        "bliss.common.base_shutter.BaseShutterState",
        ("Open",),
        None,
    )
    assert (thing.args, thing.kwargs) == ((1,), {"unit": "mm"})
    assert items.items == [1, 2]
    assert entries.dict_items == [("k", 3)]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("", "Thing"),
        ("mymodule", ""),
        ("a.b.c", "D.E"),
        ("mymodule", "Thing\0"),
        ("mymodule", "\ud800"),
    ],
    ids=["empty module", "empty name", "dotted", "NUL", "lone surrogate"],
)
def test_odd_class_names_are_opaque_or_refused(module, name):
    result = outcome(value_message(op_global(module, name) + P.EMPTY_TUPLE + P.NEWOBJ))
    if not isinstance(result, DecodeError):
        assert isinstance(result.value, Opaque)


STDLIB_INSTANCES = {
    "collections.Counter": collections.Counter(a=1),
    "collections.deque": collections.deque([1]),
    "decimal.Decimal": decimal.Decimal("1.5"),
    "fractions.Fraction": fractions.Fraction(1, 3),
    "pathlib.PurePosixPath": PurePosixPath("/tmp"),
    "uuid.UUID": uuid.UUID(int=1),
    "signal.Signals (an enum)": signal.Signals.SIGINT,
    "functools.partial": functools.partial(print),
}


@pytest.mark.parametrize("name", STDLIB_INSTANCES)
def test_stdlib_values_outside_the_allow_list_are_refused_not_opaque(name):
    with pytest.raises(DecodeError, match="refused global"):
        decode(value_message(value_ops(STDLIB_INSTANCES[name])))


@pytest.mark.parametrize(
    "value",
    [
        collections.OrderedDict(a=1, b=[2]),
        datetime.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=datetime.UTC),
        datetime.date(2024, 5, 6),
        datetime.time(7, 8),
        datetime.timedelta(days=-1, seconds=5),
        datetime.timezone(datetime.timedelta(hours=2), "CEST"),
        3 + 4j,
        {1, 2},
        frozenset({"a"}),
        bytearray(b"xyz"),
        10**400,
    ],
    ids=lambda v: type(v).__name__,
)
def test_control_allowed_stdlib_values_decode(value):
    assert decode(value_message(value_ops(value))).value == value


# ------------------------------------------------------------------ odd envelopes
@pytest.mark.parametrize(
    "data",
    [
        value_message(P.NONE, timestamp=op_int(10**400)),
        value_message(P.NONE, timestamp=op_int(10**5000)),
        value_message(P.NONE, timestamp=op_float(float("inf"))),
        value_message(P.NONE, timestamp=op_float(float("nan"))),
        value_message(P.NONE, timestamp=P.NEWTRUE),
        value_message(P.NONE, timestamp=op_str("1.5")),
        value_message(P.NONE, sender=P.NONE),
        top_level(op_global(WIRE, "_Value") + op_tuple(op_str("a"), op_float(1.0)) + P.NEWOBJ),
        top_level(
            op_global(WIRE, "_Value")
            + op_tuple(op_str("a"), op_float(1.0), P.NONE)
            + P.REDUCE
            + P.NONE
            + P.BUILD
        ),
        top_level(
            op_global(WIRE, "_Value")
            + P.EMPTY_TUPLE
            + P.NEWOBJ
            + P.NONE
            + value_ops({"fields": 5}, 0)
            + P.TUPLE2
            + P.BUILD
        ),
        top_level(op_global(WIRE, "_Query") + P.EMPTY_TUPLE + P.NEWOBJ),
        top_level(
            op_global(WIRE, "_Query")
            + P.EMPTY_TUPLE
            + P.NEWOBJ
            + value_ops({"name": "a", 1: "b"}, 0)
            + P.BUILD
        ),
        top_level(
            op_global(WIRE, "_Query")
            + P.EMPTY_TUPLE
            + P.NEWOBJ
            + value_ops({"name": "a", "id": 1}, 0)
            + P.BUILD
        ),
        top_level(op_global(WIRE, "_Query") + op_tuple(op_str("a")) + P.REDUCE),
        top_level(
            op_global(WIRE, "_Reply")
            + P.EMPTY_TUPLE
            + P.NEWOBJ
            + value_ops({"name": "a", "id": "b", "value": 3}, 0)
            + P.BUILD
        ),
        top_level(op_global(WIRE, "_Value")),
        value_message(P.NONE) + P.NONE,
    ],
    ids=[
        "timestamp 10**400",
        "timestamp of 5000 digits",
        "timestamp inf",
        "timestamp nan",
        "timestamp True",
        "timestamp str",
        "sender None",
        "two fields",
        "value given state",
        "fields set by BUILD",
        "query without state",
        "query keys of mixed types",
        "query id int",
        "query called",
        "reply value not a _Value",
        "the class alone",
        "bytes after STOP",
    ],
)
def test_malformed_envelopes_are_refused(data):
    refused(data)
    assert_decoder_intact()


# ------------------------------------------------------------------ keys hashed while unpickling
# The unpickler hashes dict keys and set members as it builds them, before the limits on the
# finished value apply; CPython's tuple hash is neither cached nor guarded against recursion.


def test_a_deeply_nested_dict_key_does_not_crash_the_process():
    # {((((...None...),),),): None}, a million levels (a 1 MB message): tuple hashing recurses
    # in C without a recursion check and overflows a thread's stack (8 MiB, Linux's default,
    # as for the bus's reader thread). Run apart: it kills the process.
    script = textwrap.dedent(
        """
        import sys, threading
        from tango_channels import DecodeError, decode
        data = sys.stdin.buffer.read()
        def run():
            try:
                decode(data)
            except DecodeError:
                print("DecodeError")
        threading.stack_size(8 * 1024 * 1024)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        """
    )
    data = value_message(P.EMPTY_DICT + P.NONE + P.TUPLE1 * 1_000_000 + P.NONE + P.SETITEM)
    done = subprocess.run(
        [sys.executable, "-c", script], input=data, capture_output=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, b"DecodeError\n")


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls = [0]
    original = getattr(Opaque, name)

    def counted(self: Opaque, *args: Any) -> Any:
        calls[0] += 1
        return original(self, *args)

    monkeypatch.setattr(Opaque, name, counted)
    return calls


def test_hashing_a_shared_tuple_key_is_bounded_by_the_expansion_limit(monkeypatch):
    # A dict key of tuples holding one tuple ten times, five deep, with an opaque enum member
    # at the bottom: hashing the key hashes the member 10**5 times. With 10**30 (30 levels) it
    # would never end, so the work, seen through the member's __hash__, must stay within the
    # limit on the value's expanded size.
    hashes = _counting(monkeypatch, "__hash__")
    member = op_global("mymodule", "Color") + op_tuple(op_str("red")) + P.REDUCE
    key = nested_sharing(5, 10, kind=P.TUPLE, leaf=member)
    limits = Limits(max_nodes=1_000)
    refused(value_message(P.EMPTY_DICT + key + P.NONE + P.SETITEM), limits)
    assert hashes[0] <= limits.max_nodes


def test_comparing_colliding_opaque_keys_is_bounded_by_the_expansion_limit(monkeypatch):
    # Two opaque keys with the same class and arguments hash alike; the dict then compares
    # them, and Opaque equality compares their states: two equal but distinct list bombs.
    equalities = _counting(monkeypatch, "__eq__")
    leaf = op_global("mymodule", "Color") + op_tuple(op_str("red")) + P.REDUCE
    ops = P.EMPTY_DICT
    for first_memo in (VALUE_MEMO, VALUE_MEMO + 6):  # two bombs, each of its own objects
        bomb = nested_sharing(5, 10, leaf=leaf, first_memo=first_memo)
        ops += op_global("mymodule", "Key") + P.EMPTY_TUPLE + P.NEWOBJ + bomb + P.BUILD
        ops += P.NONE + P.SETITEM
    limits = Limits(max_nodes=1_000)
    refused(value_message(ops), limits)
    assert equalities[0] <= limits.max_nodes
