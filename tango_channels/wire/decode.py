"""Decode BLISS channel messages without ever running code from the wire.

``pickle.loads`` on what anyone can publish on Redis runs arbitrary code. :func:`decode` uses an
unpickler whose ``find_class`` is an explicit allow-list:

- the three envelope classes of ``bliss.config.channels`` (mapped to our own types);
- numpy arrays, scalars and dtypes, under both ``numpy.core`` and ``numpy._core`` paths, built
  by the checked stand-ins of :mod:`tango_channels.wire.safe_numpy`;
- a few harmless builtin constructors (``complex``, ``bytearray``, ``set``, ``frozenset``,
  ``collections.OrderedDict``, the ``datetime`` types).

Any other *standard library* or numpy global (``os.system``, ``subprocess.Popen``,
``builtins.eval``, ``importlib.import_module``...) makes the message undecodable. Any other
class (BLISS's ``AxisState``, enums, user classes) becomes an inert
:class:`~tango_channels.wire.opaque.Opaque` that records what the pickle says about it.

Limits protect the reader against messages built to exhaust it: a size limit, a nesting depth,
and a bound on the expanded size of the value (a small pickle can reference one list a billion
times). A message that fails any check raises :class:`DecodeError`; the bus logs it with the
channel name, counts it and drops it.
"""

from __future__ import annotations

import _compat_pickle
import collections
import datetime
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import safe_numpy
from .layout import canonical_value_span
from .messages import WIRE_MODULE, Query, Reply, ValueMessage
from .opaque import Opaque, opaque_class
from .unpickler import HashGuard, KeyTooComplex, unpickle

__all__ = ["DecodeError", "Limits", "decode", "finish_value"]


class DecodeError(ValueError):
    """A message that is not a valid, safe BLISS channel message."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one message. The defaults hold any value BLISS shares through channels."""

    max_bytes: int = 16 * 1024 * 1024
    max_depth: int = 100
    #: Nodes of the value seen as a tree, shared references counted each time.
    max_nodes: int = 10_000_000


DEFAULT_LIMITS = Limits()
# Most values name no opaque class: one shared empty set (an empty frozenset is 216 bytes,
# and each held value keeps its own).
NO_CLASSES: frozenset[str] = frozenset()


class _WireValue:
    """Target of ``bliss.config.channels._Value`` (a namedtuple there) while unpickling."""

    __slots__ = ("fields",)
    fields: tuple[Any, ...]

    def __new__(cls, *fields: Any) -> _WireValue:
        self = object.__new__(cls)
        self.fields = fields
        return self

    def __setstate__(self, state: Any) -> None:
        # A namedtuple is never given state. Without this method ``BUILD`` would set the slot
        # to anything; and ``BUILD`` on the class itself (which pickle then calls this function
        # on, and fails) would replace the slot's descriptor for every later message.
        raise DecodeError("_Value given a BUILD state")


class _WireObject:
    """Target of ``_Query``/``_Reply``: plain objects whose ``BUILD`` state is their dict."""

    __slots__ = ("state",)

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _WireQuery(_WireObject):
    __slots__ = ()


class _WireReply(_WireObject):
    __slots__ = ()


class _Function:
    """An allowed function as a message sees it: callable, but it takes no ``BUILD`` state.

    ``BUILD`` applied to a plain function writes into its ``__dict__`` and sets attributes such
    as ``__defaults__``: a message could alter our own functions for every later message, or
    grow their ``__dict__`` one message at a time.
    """

    __slots__ = ("_function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self._function = function

    def __call__(self, *args: Any) -> Any:
        return self._function(*args)

    def __setstate__(self, state: Any) -> None:
        raise DecodeError("BUILD applied to a function")


def _hashing(build: Callable[..., Any], pairs: bool = False) -> Callable[..., Any]:
    """``build`` (set, frozenset, OrderedDict) checking what it will hash, first."""

    def checked(*args: Any) -> Any:
        if len(args) > 1:
            raise DecodeError(f"{build.__name__} called with {len(args)} arguments")
        items = list(args[0]) if args else []
        HashGuard().check(item[0] if pairs and isinstance(item, tuple) else item for item in items)
        return build(items)

    checked.__name__ = build.__name__
    return checked


def _bytearray(*args: Any) -> bytearray:
    # bytearray(10**10) would allocate; only the forms pickle itself writes are accepted.
    if len(args) == 0:
        return bytearray()
    if len(args) == 1 and isinstance(args[0], bytes):
        return bytearray(args[0])
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return bytearray(args[0], "latin-1")
    raise DecodeError("bytearray built from something other than bytes")


_ALLOWED: dict[tuple[str, str], Any] = {
    (WIRE_MODULE, "_Value"): _WireValue,
    (WIRE_MODULE, "_Query"): _WireQuery,
    (WIRE_MODULE, "_Reply"): _WireReply,
    ("numpy", "ndarray"): safe_numpy.NdarrayRef,
    ("numpy", "dtype"): _Function(safe_numpy.make_dtype),
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): _Function(_bytearray),
    ("builtins", "set"): _Function(_hashing(set)),
    ("builtins", "frozenset"): _Function(_hashing(frozenset)),
    ("collections", "OrderedDict"): _Function(_hashing(collections.OrderedDict, pairs=True)),
    ("datetime", "datetime"): datetime.datetime,
    ("datetime", "date"): datetime.date,
    ("datetime", "time"): datetime.time,
    ("datetime", "timedelta"): datetime.timedelta,
    ("datetime", "timezone"): datetime.timezone,
}
for _core in ("numpy.core", "numpy._core"):
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _Function(safe_numpy.reconstruct)
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _Function(safe_numpy.scalar)
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _Function(safe_numpy.frombuffer)

# Top-level modules whose other globals are refused outright rather than kept opaque: a
# message naming them is not a value of some class we lack, it is an attempt to call something.
# Their Python 2 names count too: pickle maps ``__builtin__.eval``, ``copy_reg``... onto them, so
# a BLISS process would run what we would otherwise hold and re-send as opaque.
_PYTHON2_NAMES = {*_compat_pickle.IMPORT_MAPPING, *(m for m, _ in _compat_pickle.NAME_MAPPING)}
_REFUSED_ROOTS = (
    frozenset(sys.stdlib_module_names)
    | {"numpy"}
    | {name.partition(".")[0] for name in _PYTHON2_NAMES}
)


def _find_class(module: str, name: str) -> Any:
    allowed = _ALLOWED.get((module, name))
    if allowed is not None:
        return allowed
    if module.partition(".")[0] in _REFUSED_ROOTS:
        raise DecodeError(f"refused global {module}.{name}")
    return opaque_class(module, name)


_LEAVES = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    bytearray,
    datetime.datetime,  # not covered by date: the check is on the exact type
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.timezone,
)


class _Finisher:
    """Resolves numpy stand-ins in a decoded value and enforces depth and size limits.

    Works on the value as a graph: each distinct object is visited once (so a message of
    shared references costs what its size costs), while the tree size it would expand to is
    computed and bounded.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.done: dict[int, tuple[Any, int]] = {}
        self.classes: set[str] = set()  # the opaque classes the value names

    def __call__(self, obj: Any, depth: int = 0) -> tuple[Any, int]:
        if type(obj) in _LEAVES:
            return obj, 1
        if isinstance(obj, type):
            if issubclass(obj, Opaque):  # a class itself, as a value
                self.classes.add(f"{obj.wire_module}.{obj.wire_qualname}")
            return obj, 1
        key = id(obj)
        seen = self.done.get(key)
        if seen is not None:
            return seen
        if depth > self.limits.max_depth:
            raise DecodeError(f"value nested deeper than {self.limits.max_depth} levels")
        # A cycle comes back here through this entry: it adds nothing to the tree size.
        self.done[key] = (obj, 1)
        result, size = self._inner(obj, depth + 1)
        if size > self.limits.max_nodes:
            raise DecodeError(f"value expands to more than {self.limits.max_nodes} items")
        self.done[key] = (result, size)
        return result, size

    def _many(self, items: Any, depth: int) -> tuple[list[Any], int, bool]:
        out, total, changed = [], 0, False
        for item in items:
            new, size = self(item, depth)
            changed = changed or new is not item
            out.append(new)
            total += size
            if total > self.limits.max_nodes:
                raise DecodeError(f"value expands to more than {self.limits.max_nodes} items")
        return out, total, changed

    def _inner(self, obj: Any, depth: int) -> tuple[Any, int]:
        if isinstance(obj, (safe_numpy.PendingArray, safe_numpy.PendingDtype)):
            return safe_numpy.resolve(obj), 1
        if isinstance(obj, list):
            items, size, changed = self._many(obj, depth)
            if changed:
                obj[:] = items
            return obj, size + 1
        if isinstance(obj, tuple):
            items, size, changed = self._many(obj, depth)
            return (tuple(items) if changed else obj), size + 1
        if isinstance(obj, dict):  # OrderedDict included
            flat, size, changed = self._many((x for kv in obj.items() for x in kv), depth)
            if changed:
                obj.clear()
                obj.update(zip(flat[::2], flat[1::2], strict=True))
            return obj, size + 1
        if isinstance(obj, (set, frozenset)):
            items, size, changed = self._many(obj, depth)
            if changed:
                obj = type(obj)(items)
            return obj, size + 1
        if isinstance(obj, Opaque):
            self.classes.add(obj.class_path)
            (args, kwargs, state, items, dict_items), size, _ = self._many(
                (obj.args, obj.kwargs, obj.state, obj.items, obj.dict_items), depth
            )
            obj.args, obj.kwargs, obj.state = args, kwargs, state
            obj.items, obj.dict_items = items, dict_items
            return obj, size + 1
        if type(obj).__module__ == "numpy":  # an array or scalar built by safe_numpy
            return obj, 1
        raise DecodeError(f"unexpected {type(obj).__name__} object in a value")


def finish_value(value: Any, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, frozenset[str]]:
    """The decoded value with numpy objects completed, and the opaque classes it names;
    :class:`DecodeError` past limits."""
    if type(value) in _LEAVES:
        return value, NO_CLASSES
    finisher = _Finisher(limits)
    try:
        return finisher(value)[0], frozenset(finisher.classes) if finisher.classes else NO_CLASSES
    except (safe_numpy.UnsafeNumpy, TypeError) as exc:
        raise DecodeError(str(exc)) from exc


def _seconds(timestamp: Any) -> float | None:
    """``timestamp`` as float seconds, or None when it is not a finite float or int."""
    if type(timestamp) not in (float, int):
        return None
    try:
        seconds = float(timestamp)
    except OverflowError:  # an int beyond any float
        return None
    return seconds if math.isfinite(seconds) else None


def _value_message(
    raw: _WireValue, limits: Limits, data: bytes | None, span: tuple[int, int] | None
) -> ValueMessage:
    if len(raw.fields) != 3:
        raise DecodeError(f"_Value with {len(raw.fields)} fields instead of 3")
    sender_id, timestamp, value = raw.fields
    if not isinstance(sender_id, str):
        raise DecodeError(f"_Value sender id is a {type(sender_id).__name__}, not a str")
    seconds = _seconds(timestamp)
    if seconds is None:
        shown = safe_numpy.short_repr(timestamp, 40)
        raise DecodeError(f"_Value timestamp {shown} is not a finite number")
    value, classes = finish_value(value, limits)
    return ValueMessage(sender_id, seconds, value, data if span else None, span, classes)


def _fields(obj: _WireObject, names: tuple[str, ...]) -> tuple[Any, ...]:
    state = getattr(obj, "state", None)
    # Looked up, not sorted: the keys of a hostile state need not be comparable with each other.
    if not (
        isinstance(state, dict) and len(state) == len(names) and all(n in state for n in names)
    ):
        raise DecodeError(f"{type(obj).__name__[5:]} without exactly the fields {names}")
    values = tuple(state[n] for n in names)
    if not all(isinstance(v, str) for v in values[:2]):
        raise DecodeError(f"{type(obj).__name__[5:]} name and id must be strings")
    return values


def decode(data: bytes, limits: Limits = DEFAULT_LIMITS) -> ValueMessage | Query | Reply:
    """Decode one message published on a channel.

    Raises :class:`DecodeError` for anything that is not a safe, well-formed ``_Value``,
    ``_Query`` or ``_Reply``.
    """
    try:
        return _decode(data, limits)
    except DecodeError as exc:
        reason = str(exc)
    # A fresh error, raised outside the handler: the traceback of the failed attempt, and the
    # half-built hostile objects its frames hold, are freed now rather than kept with it.
    raise DecodeError(reason)


def _decode(data: bytes, limits: Limits) -> ValueMessage | Query | Reply:
    if len(data) > limits.max_bytes:
        raise DecodeError(f"message of {len(data)} bytes exceeds {limits.max_bytes}")
    try:
        span = canonical_value_span(data)
        raw = unpickle(data, _find_class, span)
    except DecodeError:
        raise
    except KeyTooComplex as exc:
        raise DecodeError(str(exc)) from None
    except RecursionError:
        raise DecodeError("message nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any failure of a hostile pickle is a decode error
        raise DecodeError(f"{type(exc).__name__}: {exc}"[:300]) from None
    if isinstance(raw, _WireValue):
        return _value_message(raw, limits, data, span)
    if isinstance(raw, _WireQuery):
        return Query(*_fields(raw, ("name", "id")))
    if isinstance(raw, _WireReply):
        name, query_id, value = _fields(raw, ("name", "id", "value"))
        if value is not None:
            if not isinstance(value, _WireValue):
                raise DecodeError("_Reply value is neither a _Value nor None")
            value = _value_message(value, limits, None, None)
        return Reply(name, query_id, value)
    raise DecodeError(f"not a channel message: a {type(raw).__name__}")
