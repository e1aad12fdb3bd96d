"""Encode ``_Value``, ``_Query`` and ``_Reply`` messages exactly as BLISS 2.4 writes them.

BLISS publishes ``pickle.dumps(message, protocol=4)`` of classes in ``bliss.config.channels``.
CPython's C pickler refuses to name a class it cannot import there, so the reference encoder
is a subclass of the standard library's pure-Python pickler (:class:`_WirePickler`) whose
``save_global`` writes the names BLISS's classes have: our envelope classes as
``bliss.config.channels``, numpy objects under numpy 1.x's ``numpy.core`` paths (BLISS pins
numpy < 2), and :class:`~tango_channels.wire.opaque.Opaque` values as the class they stand for. Its
output is byte-identical to BLISS's (the golden tests check every captured message).

Two shortcuts keep the hot paths fast, each producing the same bytes:

- a ``_Value`` whose value holds only builtins (the usual case) is pickled by the C pickler,
  its memo pre-filled with the four objects BLISS's message has memoised before the value;
- a reply about a value we received in BLISS's canonical layout re-sends the received value
  bytes unchanged, after an envelope that recreates the same four memo entries. A BLISS
  ``AxisState`` thus goes back out exactly as it came in.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
from collections import namedtuple
from typing import Any

from .layout import VALUE_HEAD, VALUE_TAIL, canonical_value_span, frame, str_op
from .messages import WIRE_MODULE, ValueMessage
from .opaque import Opaque

__all__ = ["EncodeError", "encode_query", "encode_reply", "encode_value"]


class EncodeError(ValueError):
    """A value that cannot be sent on a channel (not picklable)."""


# Stand-ins for BLISS's classes, laid out as BLISS defines them (field and attribute order
# matter: they are the pickle's order).
_Value = namedtuple("_Value", "id timestamp value")


class _Query:
    def __init__(self, name: str, id: str) -> None:  # noqa: A002 - BLISS's field name
        self.name = name
        self.id = id


class _Reply:
    def __init__(self, name: str, id: str, value: Any) -> None:  # noqa: A002
        self.name = name
        self.id = id
        self.value = value


_WIRE_NAME = sys.intern(WIRE_MODULE)
_ENVELOPE_NAMES = {cls: (_WIRE_NAME, sys.intern(cls.__name__)) for cls in (_Value, _Query, _Reply)}
_NUMPY_2_CORE = "numpy._core."


def _wire_name(obj: Any) -> tuple[str, str] | None:
    """The (module, qualname) under which BLISS would pickle ``obj``, when we must say it."""
    names = _ENVELOPE_NAMES.get(obj)
    if names is not None:
        return names
    if isinstance(obj, type) and issubclass(obj, Opaque):
        return obj.wire_module, obj.wire_qualname
    module = getattr(obj, "__module__", None) or ""
    if module.startswith(_NUMPY_2_CORE):
        # numpy 2 names its pickle helpers numpy._core.*; BLISS runs numpy 1.26.
        return sys.intern("numpy.core." + module[len(_NUMPY_2_CORE) :]), obj.__qualname__
    return None


# The pure-Python pickler, whose internals (save, write, memoize...) typeshed doesn't describe:
# subclassed as what it is to mypy, Any.
_PurePickler: Any = pickle._Pickler


class _WirePickler(_PurePickler):  # type: ignore[misc]
    """The standard pure-Python pickler, naming globals as a BLISS process would."""

    def __init__(self, file: io.BytesIO, protocol: int) -> None:
        super().__init__(file, protocol)
        self.opaque_classes: set[str] = set()

    def save_global(self, obj: Any, name: str | None = None) -> None:
        names = _wire_name(obj)
        if names is None:
            super().save_global(obj, name)
            return
        module, qualname = names
        if isinstance(obj, type) and issubclass(obj, Opaque):
            self.opaque_classes.add(f"{module}.{qualname}")
        # As CPython does at protocol 4: both names memoised (module names by identity, hence
        # the interned strings), STACK_GLOBAL, then the global itself memoised.
        self.save(module)
        self.save(qualname)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def _dumps(message: Any) -> bytes:
    return _dumps_recording(message)[0]


def _dumps_recording(message: Any) -> tuple[bytes, frozenset[str]]:
    """The message's bytes and the opaque classes they name."""
    buffer = io.BytesIO()
    pickler = _WirePickler(buffer, 4)
    try:
        pickler.dump(message)
    except RecursionError as exc:
        raise EncodeError("value nested too deeply to send") from exc
    except (pickle.PicklingError, TypeError, AttributeError, ValueError) as exc:
        raise EncodeError(f"value cannot be sent: {exc}") from exc
    return buffer.getvalue(), frozenset(pickler.opaque_classes)


class _NotPlain(Exception):
    """Raised inside the C pickler at the first object that is not a plain builtin."""


class _PlainPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        # Only called for objects outside the C pickler's own fast types.
        raise _NotPlain


# Frames are cut at 64 KiB; under this size a message is a single frame.
_SINGLE_FRAME_MAX = 60 * 1024


def _plain_value_ops(value: Any, memo_objects: tuple[Any, ...]) -> bytes | None:
    """The C pickler's opcodes for ``value`` as they appear after ``memo_objects``, or None
    when the value holds anything but builtins or would not fit in one frame."""
    buffer = io.BytesIO()
    pickler = _PlainPickler(buffer, 4)
    pickler.memo = {id(obj): (index, obj) for index, obj in enumerate(memo_objects)}
    try:
        pickler.dump(value)
    except (_NotPlain, RecursionError):
        return None
    except (pickle.PicklingError, TypeError) as exc:
        raise EncodeError(f"value cannot be sent: {exc}") from exc
    data = buffer.getvalue()
    if len(data) > _SINGLE_FRAME_MAX:
        return None
    return data[11:-1] if data[2:3] == b"\x95" else data[2:-1]


def _float_op(value: float) -> bytes:
    return b"G" + struct.pack(">d", value)


def encode_value(sender_id: str, timestamp: float, value: Any) -> ValueMessage:
    """The ``_Value(sender_id, timestamp, value)`` message, with its bytes and value span."""
    ops = _plain_value_ops(value, (_WIRE_NAME, _ENVELOPE_NAMES[_Value][1], _Value, sender_id))
    classes: frozenset[str] = frozenset()
    if ops is not None:
        head = VALUE_HEAD + str_op(sender_id) + b"\x94" + _float_op(timestamp)
        wire = frame(head + ops + VALUE_TAIL)
    else:
        wire, classes = _dumps_recording(_Value(sender_id, timestamp, value))
    return ValueMessage(sender_id, timestamp, value, wire, canonical_value_span(wire), classes)


# What the pure pickler writes for a _Query before its name and between the name and the id:
# the class (memoised as for _Value), NEWOBJ, its state dict and the key "name".
_QUERY_HEAD = b"\x8c\x15%s\x94\x8c\x06_Query\x94\x93\x94)\x81\x94}\x94(\x8c\x04name\x94" % (
    _WIRE_NAME.encode()
)
_QUERY_ID = b"\x94\x8c\x02id\x94"


def encode_query(name: str, query_id: str) -> bytes:
    """The ``_Query`` asking the holders of ``name`` for its value: the bytes BLISS's
    pickler writes (a test compares them with the pure pickler's), put together directly
    (one per channel opened: 10,000 at a device's start)."""
    if {name, query_id} & {"name", "id"} or name == query_id or len(name) > _SINGLE_FRAME_MAX:
        return _dumps(_Query(name, query_id))  # a memo reference, or more than one frame
    return frame(_QUERY_HEAD + str_op(name) + _QUERY_ID + str_op(query_id) + b"\x94ub.")


def _reply_replaying(name: str, query_id: str, held: ValueMessage) -> bytes:
    """A reply carrying ``held``'s original value bytes (see the module docstring)."""
    assert held.wire is not None and held.span is not None
    start, end = held.span
    body = b"".join(
        (
            b"\x8c\x15",
            _WIRE_NAME.encode(),
            b"\x94",  # memo 0, as in the _Value message
            b"\x8c\x06_Reply\x93)\x81}(",  # class, NEWOBJ, state dict: not memoised
            str_op("name"),
            str_op(name),
            str_op("id"),
            str_op(query_id),
            str_op("value"),
            b"h\x00\x8c\x06_Value\x94\x93\x94",  # memo 1 and 2
            str_op(held.sender_id),
            b"\x94",  # memo 3: the value starts after it
            _float_op(held.timestamp),
            memoryview(held.wire)[start:end],
            b"\x87\x81ub.",  # TUPLE3 NEWOBJ SETITEMS BUILD STOP
        )
    )
    return frame(body)


def encode_reply(name: str, query_id: str, held: ValueMessage | None) -> bytes:
    """The ``_Reply`` to query ``query_id`` on ``name``: ``held`` or None if not held."""
    if held is not None and held.span is not None:
        return _reply_replaying(name, query_id, held)
    value = None if held is None else _Value(held.sender_id, held.timestamp, held.value)
    return _dumps(_Reply(name, query_id, value))
