"""What kind of value a channel carries, and how its values look as typed samples.

A Tango attribute has one type for its whole life; a channel can carry anything. A
:class:`Kind` is decided once per channel (from ``type=`` or from its first value, see
:func:`infer_kind`) and then every value is converted to it (:meth:`Kind.convert`), or
reported as not fitting: the attribute never silently changes type.

Kinds (the ``type=`` names): ``bool``, ``int`` (64-bit), ``float``, ``str``, ``json`` (any value
as JSON text, ``repr`` where JSON can't), ``state`` (an ``AxisState`` as a Tango device state,
see :func:`~tango_channels_device.bridge.axes.device_state`), ``enum:<label>,<label>...`` (an enum
member, or its value, as a label index), ``spectrum:<dtype>`` and ``image:<dtype>`` (numpy
dtypes, or ``str`` for a spectrum of strings). BLISS ``AxisState`` values are ``str`` by default
(``"MOVING LIMPOS"``); enum members are ``str`` of the value the wire carries (a pickled enum
member holds its value, not its name).

This module knows nothing of Tango; the device maps kinds to Tango types.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from tango_channels.wire.opaque import Opaque

from .axes import axis_state_names, device_state, is_axis_state

__all__ = [
    "Kind",
    "KindError",
    "Mismatch",
    "infer_kind",
    "parse_kind",
]

_INT64 = (-(2**63), 2**63 - 1)
ARRAY_DTYPES = (
    "bool",
    "uint8",
    "int8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "int64",
    "uint64",
    "float32",
    "float64",
)
SIMPLE = ("bool", "int", "float", "str", "json", "state")

class KindError(ValueError):
    """A ``type=`` that names no kind."""


class Mismatch(ValueError):
    """A value that doesn't fit the channel's kind; the message says what was expected."""


def _np() -> Any:
    import numpy

    return numpy


def is_enum_member(value: Any) -> bool:
    """An opaque object called with one argument and nothing else: how enums pickle."""
    return (
        isinstance(value, Opaque)
        and value._called
        and len(value.args) == 1
        and value.state is None
        and not value.items
        and not value.dict_items
    )


@dataclass(frozen=True)
class Kind:
    """How one channel's values are shown (see the module docstring)."""

    name: str  # one of SIMPLE, "enum", "spectrum", "image"
    dtype: str | None = None  # numpy dtype name (or "str") of a spectrum/image
    labels: tuple[str, ...] = field(default=())  # enum labels
    container: str = "array"  # how a spectrum came: "list" or "array" (kept for writes)

    def __str__(self) -> str:
        if self.name == "enum":
            return "enum:" + ",".join(self.labels)
        return f"{self.name}:{self.dtype}" if self.dtype else self.name

    # ------------------------------------------------------------- channel -> sample
    def convert(self, value: Any) -> Any:
        """``value`` as this kind shows it; :class:`Mismatch` when it doesn't fit."""
        name = self.name
        np = _np() if name in ("spectrum", "image") or not _plain(value) else None
        if name == "json":
            return to_json(value)
        if name == "str":
            if isinstance(value, str):
                return value
            if is_axis_state(value):
                return " ".join(axis_state_names(value))
            if is_enum_member(value):
                return str(value.args[0])
            if np is not None and isinstance(value, np.str_):
                return str(value)
            raise self._mismatch(value)
        if name == "bool":
            if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
                return bool(value)
            raise self._mismatch(value)
        if name == "int":
            if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
                raise self._mismatch(value)
            is_int = isinstance(value, int) or (np is not None and isinstance(value, np.integer))
            if is_int and _INT64[0] <= int(value) <= _INT64[1]:
                return int(value)
            raise self._mismatch(value)
        if name == "float":
            if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
                raise self._mismatch(value)
            if isinstance(value, (int, float)) or (
                np is not None and isinstance(value, (np.integer, np.floating))
            ):
                return float(value)
            raise self._mismatch(value)
        if name == "state":
            names = (
                axis_state_names(value)
                if is_axis_state(value)
                else value.split()
                if isinstance(value, str)
                else None
            )
            if names is None:
                raise self._mismatch(value)
            return device_state(names)
        if name == "enum":
            text = str(value.args[0]) if is_enum_member(value) else value
            if isinstance(text, str):
                for index, label in enumerate(self.labels):
                    if label.lower() == text.lower():
                        return index
            raise Mismatch(f"{_describe(value)} is none of the labels {', '.join(self.labels)}")
        return self._array(value, 1 if name == "spectrum" else 2)

    def _array(self, value: Any, ndim: int) -> Any:
        np = _np()
        if self.dtype == "str":
            if isinstance(value, (list, tuple, np.ndarray)) and all(
                isinstance(v, (str, np.str_)) for v in value
            ):
                return [str(v) for v in value]
            raise self._mismatch(value)
        if isinstance(value, (list, tuple)):
            try:
                value = np.asarray(value)
            except ValueError:
                raise self._mismatch(value) from None
        if not isinstance(value, np.ndarray) or value.ndim != ndim:
            raise self._mismatch(value)
        target = np.dtype(self.dtype)
        if value.dtype == target:
            return value
        if (
            value.dtype.kind in "biuf"
            and np.can_cast(value.dtype, target, "same_kind")
            and (value.dtype.kind != "b" or target.kind == "b")
        ):
            return value.astype(target)
        raise self._mismatch(value)

    def _mismatch(self, value: Any) -> Mismatch:
        return Mismatch(f"expected {self.expected()}, got {_describe(value)}")

    def expected(self) -> str:
        """What values of this kind are, for error messages."""
        return {
            "bool": "a boolean",
            "int": "an integer (64-bit)",
            "float": "a number",
            "str": "a string",
            "json": "any value",
            "state": "an AxisState or state names",
            "enum": f"one of {', '.join(self.labels)}",
            "spectrum": f"a 1-D array of {self.dtype}",
            "image": f"a 2-D array of {self.dtype}",
        }[self.name]

    @property
    def numeric(self) -> bool:
        """Whether values are numbers (or arrays of numbers): what Tango's change criteria
        and alarm limits apply to. Text, booleans, states and enums change or don't."""
        if self.name in ("int", "float"):
            return True
        return self.name in ("spectrum", "image") and self.dtype not in ("str", "bool")

    # ------------------------------------------------------------- client -> channel
    @property
    def writable(self) -> bool:
        return self.name not in ("state", "enum")

    def from_client(self, value: Any) -> Any:
        """A value written by a client (already of the attribute's type), as the channel's
        holders expect it; :class:`Mismatch` when it can't be."""
        if self.name == "json":
            if not isinstance(value, str):
                raise Mismatch("expected JSON text")
            try:
                return json.loads(value)
            except ValueError as exc:
                raise Mismatch(f"expected JSON text: {exc}") from None
        if self.name == "float":
            value = float(value)
            return value
        if self.name in ("spectrum", "image"):
            converted = self.convert(value)
            if self.container == "list":
                return (
                    [v.item() if hasattr(v, "item") else v for v in converted]
                    if (self.name == "spectrum")
                    else converted.tolist()
                )
            return converted
        return self.convert(value)


def _plain(value: Any) -> bool:
    return type(value) in (bool, int, float, str, type(None))


def _describe(value: Any) -> str:
    if isinstance(value, Opaque):
        return value.class_path
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def to_json(value: Any) -> str:
    """``value`` as JSON text; what JSON can't hold is written as its ``repr`` (a string)."""
    try:
        return json.dumps(_jsonable(value, 0), allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(value))


def _jsonable(value: Any, depth: int) -> Any:
    if depth > 50:
        raise ValueError("too deep")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v, depth + 1) for v in value), key=repr)
    if is_axis_state(value):
        return axis_state_names(value)
    if is_enum_member(value):
        return _jsonable(value.args[0], depth + 1)
    np = _np() if type(value).__module__ == "numpy" else None
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        return _jsonable(value.tolist(), depth + 1)
    return repr(value)


def infer_kind(value: Any) -> Kind | None:
    """The kind a channel gets from its first value; None for None (decide later)."""
    if value is None:
        return None
    plain = _PLAIN_KINDS.get(type(value))  # most values: one object per kind, at once
    if plain is not None:
        return plain
    kind = _inferred(value)
    return _KINDS.setdefault(kind, kind)  # one object per kind, for thousands of channels


_KINDS: dict[Kind, Kind] = {}
_PLAIN_KINDS = {bool: Kind("bool"), float: Kind("float"), str: Kind("str")}


def _inferred(value: Any) -> Kind:
    if isinstance(value, bool):
        return Kind("bool")
    if isinstance(value, int):
        return Kind("int") if _INT64[0] <= value <= _INT64[1] else Kind("json")
    if isinstance(value, float):
        return Kind("float")
    if isinstance(value, str) or is_axis_state(value) or is_enum_member(value):
        return Kind("str")
    if isinstance(value, list):
        return _list_kind(value)
    if type(value).__module__ == "numpy":
        np = _np()
        if isinstance(value, np.bool_):
            return Kind("bool")
        if isinstance(value, np.integer):
            return Kind("int") if value.dtype != np.uint64 or value <= _INT64[1] else Kind("json")
        if isinstance(value, np.floating):
            return Kind("float")
        if isinstance(value, np.str_):
            return Kind("str")
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "U" and value.ndim == 1:
                return Kind("spectrum", "str")
            if value.dtype.name in ARRAY_DTYPES and value.ndim in (1, 2):
                return Kind("spectrum" if value.ndim == 1 else "image", value.dtype.name)
    return Kind("json")


def _list_kind(value: list[Any]) -> Kind:
    if value and all(isinstance(v, str) for v in value):
        return Kind("spectrum", "str", container="list")
    if value and all(isinstance(v, bool) for v in value):
        return Kind("spectrum", "bool", container="list")
    if value and all(type(v) in (int, float) for v in value):
        if all(type(v) is int and _INT64[0] <= v <= _INT64[1] for v in value):
            return Kind("spectrum", "int64", container="list")
        return Kind("spectrum", "float64", container="list")
    return Kind("json")


@functools.cache
def parse_kind(text: str) -> Kind:
    """A ``type=`` value as a kind; :class:`KindError` saying why not."""
    head, _, rest = text.partition(":")
    if head in SIMPLE and not rest:
        return Kind(head)
    if head == "enum":
        labels = tuple(label.strip() for label in rest.split(",") if label.strip())
        if not labels:
            raise KindError("type=enum needs its labels, e.g. type=enum:OPEN,CLOSED,FAULT")
        return Kind("enum", labels=labels)
    if head in ("spectrum", "image"):
        allowed = ARRAY_DTYPES + (("str",) if head == "spectrum" else ())
        if rest in allowed:
            return Kind(head, rest)
        raise KindError(
            f"{head} needs one of the dtypes {', '.join(allowed)}, e.g. type={head}:float64"
        )
    raise KindError(
        f"unknown type {text!r} (expected one of {', '.join(SIMPLE)}, "
        "enum:<labels>, spectrum:<dtype>, image:<dtype>)"
    )
