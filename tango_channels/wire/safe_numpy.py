"""numpy arrays, scalars and dtypes from untrusted pickles, built without numpy's own hooks.

numpy pickles an array as ``_reconstruct(ndarray, (0,), b'b')`` followed by a ``BUILD`` with
``(1, shape, dtype, is_fortran, data)``, a scalar as ``scalar(dtype, data)`` and a dtype as
``dtype(code, False, True)`` followed by a ``BUILD``. Handing the real numpy callables to the
unpickler would let a message allocate arbitrary memory (``ndarray((10**9,), 'O')``) or feed
object arrays with raw pointers. Instead the decoder gets the stand-ins below: they accept only
the shapes real numpy pickles have, check every size against the data actually present, and
build the result with :func:`numpy.frombuffer`. Object, structured and datetime dtypes are
refused.

numpy is imported on first use, not when this module is imported.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "NdarrayRef",
    "PendingArray",
    "PendingDtype",
    "UnsafeNumpy",
    "frombuffer",
    "make_dtype",
    "reconstruct",
    "resolve",
    "scalar",
    "short_repr",
]

_CODE = re.compile(r"(b1|[iu][1248]|f[248]|c(8|16)|[US][0-9]{1,6})")
_BYTEORDERS = {"<", ">", "|", "="}
_MAX_DIMS = 32


class UnsafeNumpy(ValueError):
    """A numpy object in a message that we refuse to build."""


def _np() -> Any:
    import numpy

    return numpy


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, at a cost bounded by ``limit``.

    Error messages quote values taken from the message, and ``repr`` of a hostile value does
    not end: a list holding one list ten times, thirty levels deep, is a few hundred bytes of
    pickle and 10**30 items of text (and an int of 5,000 digits makes ``repr`` raise). Builtin
    containers are shown until the text is long enough, other objects by their type name.
    """
    parts: list[str] = []
    room = limit

    def put(text: str) -> bool:
        nonlocal room
        parts.append(text)
        room -= len(text)
        return room > 0

    def show(item: Any, depth: int) -> bool:
        kind = type(item)
        if kind in (list, tuple, set, frozenset, dict) and depth < 8:
            brackets: dict[type, str] = {list: "[]", tuple: "()", dict: "{}"}
            opening, closing = tuple(brackets.get(kind, "{}"))
            items = item.items() if kind is dict else item
            if not put(opening):
                return False
            for i, element in enumerate(items):
                if i and not put(", "):
                    return False
                if kind is dict:
                    if not (show(element[0], depth + 1) and put(": ")):
                        return False
                    element = element[1]
                if not show(element, depth + 1):
                    return False
            return put(closing)
        if kind is int:
            return put(repr(item) if item.bit_length() <= 64 else "<int>")
        if kind in (str, bytes):
            return put(repr(item[:limit]))
        if kind in (float, complex, bool, type(None)):
            return put(repr(item))
        return put(f"<{kind.__name__}>")

    show(value, 0)
    return "".join(parts)[:limit]


class NdarrayRef:
    """Stands for the class ``numpy.ndarray`` inside a pickle; calling it is refused."""

    def __new__(cls, *args: Any, **kwargs: Any) -> NdarrayRef:
        raise UnsafeNumpy("numpy.ndarray may only appear as the argument of _reconstruct")

    def __setstate__(self, state: Any) -> None:
        # Never called on an instance (there are none). Its presence matters when ``BUILD``
        # targets the class itself: pickle then calls this function with the state alone,
        # which fails, instead of ``setattr(NdarrayRef, ...)`` for every later message.
        raise UnsafeNumpy("numpy.ndarray takes no state")


class PendingDtype:
    """A dtype named by a pickle, completed by its ``BUILD`` state."""

    __slots__ = ("code", "dtype")

    def __init__(self, code: str) -> None:
        self.code = code
        self.dtype = _np().dtype(code)

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3):
            raise UnsafeNumpy(f"unsupported numpy dtype state {short_repr(state)}")
        _, byteorder, subarray, names, fields, elsize, alignment, flags = state
        if byteorder not in _BYTEORDERS or (subarray, names, fields) != (None, None, None):
            raise UnsafeNumpy(f"unsupported numpy dtype state {short_repr(state)}")
        if not all(isinstance(v, int) for v in (elsize, alignment, flags)):
            raise UnsafeNumpy(f"unsupported numpy dtype state {short_repr(state)}")
        if elsize not in (-1, self.dtype.itemsize):
            raise UnsafeNumpy(f"numpy dtype {self.code!r} with item size {elsize}")
        if byteorder in ("<", ">") and self.dtype.byteorder != "|":
            self.dtype = self.dtype.newbyteorder(byteorder)


def make_dtype(code: Any, align: Any = False, copy: Any = True) -> PendingDtype:
    """Stand-in for ``numpy.dtype`` when unpickling: simple numeric and string types only."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise UnsafeNumpy(f"unsupported numpy dtype {short_repr(code, 40)}")
    return PendingDtype(code)


def _dtype(value: Any) -> Any:
    if isinstance(value, PendingDtype):
        return value.dtype
    raise UnsafeNumpy(f"expected a numpy dtype, got {type(value).__name__}")


def _checked_shape(shape: Any) -> tuple[int, ...]:
    if not (
        isinstance(shape, tuple)
        and len(shape) <= _MAX_DIMS
        and all(isinstance(n, int) and n >= 0 for n in shape)
    ):
        raise UnsafeNumpy(f"bad numpy shape {short_repr(shape)}")
    return shape


def _array(data: Any, dtype: Any, shape: Any, fortran: bool) -> Any:
    dtype = _dtype(dtype)
    shape = _checked_shape(shape)
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafeNumpy(f"numpy array data must be bytes, got {type(data).__name__}")
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise UnsafeNumpy(
            f"numpy array of shape {shape} and dtype {dtype} needs "
            f"{math.prod(shape) * dtype.itemsize} bytes, message has {len(data)}"
        )
    flat = _np().frombuffer(data, dtype=dtype)
    # Copy: frombuffer over bytes is read-only, and a BLISS user expects a normal array.
    return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


class PendingArray:
    """An array announced by ``_reconstruct``, given its data by the ``BUILD`` that follows."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: Any = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise UnsafeNumpy(f"unsupported numpy array state {short_repr(state)}")
        _, shape, dtype, fortran, data = state
        if not isinstance(fortran, bool):
            raise UnsafeNumpy("bad numpy array order flag")
        self.array = _array(data, dtype, shape, fortran)


def reconstruct(subtype: Any, shape: Any, typecode: Any) -> PendingArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct``: the exact call numpy pickles."""
    if subtype is not NdarrayRef or shape != (0,) or typecode not in (b"b", "b"):
        raise UnsafeNumpy("_reconstruct is only accepted as numpy pickles it")
    return PendingArray()


def scalar(dtype: Any, data: Any) -> Any:
    """Stand-in for ``numpy.core.multiarray.scalar``."""
    dt = _dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dt.itemsize:
        raise UnsafeNumpy(f"numpy scalar of dtype {dt} with {type(data).__name__} data")
    return _np().frombuffer(data, dtype=dt)[0]


def frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> Any:
    """Stand-in for ``numpy.core.numeric._frombuffer`` (arrays pickled with protocol 5)."""
    if order not in ("C", "F"):
        raise UnsafeNumpy(f"bad numpy array order {short_repr(order, 10)}")
    return _array(buffer, dtype, shape, order == "F")


def resolve(value: Any) -> Any:
    """The finished numpy object for a stand-in (``value`` itself for anything else)."""
    if isinstance(value, PendingArray):
        if value.array is None:
            raise UnsafeNumpy("numpy array without data")
        return value.array
    if isinstance(value, PendingDtype):
        return value.dtype
    return value
