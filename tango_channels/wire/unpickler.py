"""Running the unpickler on a message: fast where that is safe, guarded everywhere else.

CPython's C unpickler is fast but trusts its input in two ways that matter here:

- it sizes its memo array from the index a ``PUT``/``LONG_BINPUT`` opcode names: a 16-byte
  message asking for index 2**30 makes it allocate and zero 16 GB;
- it hashes dict keys and set members as it builds them, before any of our limits can look at
  them. A tuple's hash is recursive and not cached: a key of a million nested tuples overflows
  the C stack (the process dies), and a few hundred bytes of tuples sharing their items via
  memo references make one hash run for ever.

So the C unpickler only gets ``_Value`` messages in BLISS's canonical layout whose value a quick
opcode scan (:func:`plain_value`) shows to be free of both: no explicit memo index, no text
(protocol 0) opcode, no ``DUP``, and no dict/set insertion in a value that also builds tuples,
frozensets or objects or shares references. That is every value BLISS usually sends: numbers,
strings, lists, dicts of those, numpy arrays, enum members. Everything else (an ``AxisState``,
queries, replies, anything unusual or hostile) goes through :class:`GuardedUnpickler`, the
standard library's pure-Python unpickler (its memo is a dict) whose dict- and set-building
opcodes first check, with :class:`HashGuard`, that each key is cheap to hash.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable, Iterable
from typing import Any

from .opaque import Opaque

__all__ = ["HashGuard", "KeyTooComplex", "unpickle"]

FindClass = Callable[[str, str], Any]


class KeyTooComplex(ValueError):
    """A dict key or set member too deep or too large to hash safely."""


_SCALARS = frozenset({str, int, float, bool, bytes, complex, type(None)})


class HashGuard:
    """Checks keys before they are hashed: nesting depth and a visit budget per message.

    The walk counts every visit, shared items each time, so a key whose hash would expand a
    shared structure is refused after ``budget`` visits instead of hashing for ever.
    """

    def __init__(self, budget: int = 100_000, max_depth: int = 32) -> None:
        self.budget = budget
        self.max_depth = max_depth

    def check(self, keys: Iterable[Any]) -> None:
        for key in keys:
            if type(key) in _SCALARS:
                continue
            stack = [(key, 0)]
            while stack:
                item, depth = stack.pop()
                if type(item) in _SCALARS:
                    continue
                self.budget -= 1
                if self.budget < 0 or depth > self.max_depth:
                    raise KeyTooComplex("a dict key or set member too complex to hash safely")
                if isinstance(item, (tuple, frozenset, list, set)):
                    stack.extend((x, depth + 1) for x in item)
                elif isinstance(item, dict):
                    stack.extend((x, depth + 1) for kv in item.items() for x in kv)
                elif isinstance(item, Opaque):  # its hash and equality look at all of these
                    stack.extend(
                        (x, depth + 1)
                        for x in (item.args, item.kwargs, item.state, item.items, item.dict_items)
                    )


# The pure-Python unpickler, whose internals (stack, read, dispatch...) typeshed doesn't
# describe: subclassed as what it is to mypy, Any.
_PureUnpickler: Any = pickle._Unpickler


class GuardedUnpickler(_PureUnpickler):  # type: ignore[misc]
    """The pure-Python unpickler, checking keys before it hashes them (see the module doc)."""

    dispatch: dict[int, Callable[[Any], None]] = dict(_PureUnpickler.dispatch)

    def __init__(self, file: io.BytesIO, find_class: FindClass) -> None:
        super().__init__(file)
        self._find = find_class
        self._size = len(file.getbuffer())
        self.guard = HashGuard()

    def find_class(self, module: str, name: str) -> Any:
        return self._find(module, name)

    def _claimed(self, size: int, what: str) -> int:
        # The pure-Python unpickler zero-fills a BYTEARRAY8 of the announced size before
        # reading it, and takes a FRAME longer than the message: check sizes against the data.
        if size > self._size:
            raise pickle.UnpicklingError(f"{what} of {size} bytes in a {self._size}-byte message")
        return size

    def load_bytearray8(self) -> None:
        (size,) = struct.unpack("<Q", self.read(8))
        self.append(bytearray(self.read(self._claimed(size, "BYTEARRAY8"))))

    def load_frame(self) -> None:
        (size,) = struct.unpack("<Q", self.read(8))
        self._unframer.load_frame(self._claimed(size, "FRAME"))
        if len(self._unframer.current_frame.getbuffer()) != size:
            raise pickle.UnpicklingError("pickle data was truncated (FRAME)")

    def load_setitem(self) -> None:
        stack = self.stack
        value = stack.pop()
        key = stack.pop()
        self.guard.check((key,))
        stack[-1][key] = value

    def load_setitems(self) -> None:
        items = self.pop_mark()
        self.guard.check(items[::2])
        target = self.stack[-1]
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def load_dict(self) -> None:
        items = self.pop_mark()
        self.guard.check(items[::2])
        self.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})

    def load_additems(self) -> None:
        items = self.pop_mark()
        self.guard.check(items)
        target = self.stack[-1]
        if isinstance(target, set):
            target.update(items)
        else:
            for item in items:
                target.add(item)

    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self.guard.check(items)
        self.append(frozenset(items))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.FRAME[0]] = load_frame
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.ADDITEMS[0]] = load_additems
    dispatch[pickle.FROZENSET[0]] = load_frozenset


class _FastUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, find_class: FindClass) -> None:
        super().__init__(file)
        self.find_class = find_class  # type: ignore[method-assign]


# -------------------------------------------------------------------------- the opcode scan
# Per opcode byte: how its argument is laid out. >= 0: that many bytes; 101/104/108: a length
# in 1/4/8 bytes, then that many bytes; -1: not for the C unpickler (or unknown).
_ARG = [-1] * 256
_FLAG = [0] * 256  # 1: inserts into a dict or set; 2: makes a risky key (tuple, object, share)
_HASHING, _RISKY = 1, 2


def _ops(names: str, size: int, flag: int = 0) -> None:
    for name in names.split():
        code = getattr(pickle, name)[0]
        _ARG[code] = size
        _FLAG[code] = flag


_ops(
    "MARK POP POP_MARK NONE NEWTRUE NEWFALSE EMPTY_TUPLE EMPTY_LIST APPEND APPENDS LIST "
    "EMPTY_DICT EMPTY_SET MEMOIZE",
    0,
)
_ops("TUPLE TUPLE1 TUPLE2 TUPLE3 STACK_GLOBAL NEWOBJ NEWOBJ_EX REDUCE BUILD OBJ", 0, _RISKY)
_ops("DICT SETITEM SETITEMS ADDITEMS", 0, _HASHING)
_ops("FROZENSET", 0, _HASHING | _RISKY)
_ops("BININT1 BINPUT", 1)
_ops("BININT2", 2)
_ops("BININT", 4)
_ops("BINFLOAT", 8)
_ops("BINGET", 1, _RISKY)
_ops("LONG_BINGET", 4, _RISKY)
_ops("SHORT_BINUNICODE SHORT_BINBYTES SHORT_BINSTRING LONG1", 101)
_ops("BINUNICODE BINBYTES BINSTRING LONG4", 104)
_ops("BINUNICODE8 BINBYTES8 BYTEARRAY8", 108)


def plain_value(data: bytes, start: int, end: int) -> bool:
    """Whether the opcodes of ``data[start:end]`` are safe for the C unpickler."""
    seen = 0
    pos = start
    while pos < end:
        op = data[pos]
        size = _ARG[op]
        if size < 0:
            return False
        pos += 1
        if size > 100:
            width = size - 100
            pos += width + int.from_bytes(data[pos : pos + width], "little")
        else:
            pos += size
        seen |= _FLAG[op]
        if seen == _HASHING | _RISKY:
            return False
    return pos == end


def unpickle(data: bytes, find_class: FindClass, span: tuple[int, int] | None) -> Any:
    """The object pickled in ``data``. ``span`` is the value's place in a canonical
    ``_Value`` message (see :mod:`tango_channels.wire.layout`), None for any other message."""
    file = io.BytesIO(data)
    if span is not None and plain_value(data, *span):
        unpickler: Any = _FastUnpickler(file, find_class)
    else:
        unpickler = GuardedUnpickler(file, find_class)
    result = unpickler.load()
    if file.tell() != len(data):
        raise pickle.UnpicklingError(f"{len(data) - file.tell()} bytes after the pickle's end")
    return result
