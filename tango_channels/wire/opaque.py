"""Values of classes we do not have, kept without running any of their code.

A BLISS process publishes objects of its own classes: ``bliss.common.axis.state.AxisState``,
enums such as ``bliss.common.base_shutter.BaseShutterState``, a user's class. We never import
them (that would run code chosen by whoever can publish on Redis). Instead the decoder builds an
:class:`Opaque`: an inert object that remembers the class path and records exactly what the
pickle did to it (constructor arguments, ``BUILD`` state, appended items, set items).

That record serves two purposes:

- people and the device layer can look inside (``state["_current_states"]`` of an
  ``AxisState``, ``args[0]`` of an enum member);
- the encoder can write the object back as the same pickle operations, so that a BLISS process
  receiving it rebuilds its real class. (Replies to queries go further and re-send the received
  bytes unchanged, see :class:`~tango_channels.wire.messages.ValueMessage`.)
"""

from __future__ import annotations

import copyreg
import sys
from collections.abc import Hashable
from typing import Any

__all__ = ["Opaque", "opaque_class"]

_CLASS_CACHE: dict[tuple[str, str], type[Opaque]] = {}
# Bounded so that a flood of made-up class names cannot grow memory without limit.
_CLASS_CACHE_MAX = 1024


class Opaque:
    """An instance of a class we do not import, reduced to what its pickle states.

    ``class_path`` is the dotted path of the original class (``module.qualname``);
    ``args``/``kwargs`` the constructor arguments; ``state`` what ``BUILD`` set (``None`` if
    nothing); ``items``/``dict_items`` what the pickle appended or set on it (list or dict
    subclasses). Keys of a dict ``state`` are also readable as attributes
    (``axis_state._current_states``).
    """

    __slots__ = ("_called", "args", "dict_items", "items", "kwargs", "state")
    _called: bool
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any
    items: list[Any]
    dict_items: list[tuple[Any, Any]]

    wire_module: str = ""
    wire_qualname: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> Opaque:
        # NEWOBJ calls cls.__new__(cls, *args) and nothing else.
        self = object.__new__(cls)
        self.args = args
        self.kwargs = kwargs
        self.state = None
        self.items = []
        self.dict_items = []
        self._called = False
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Only reached when the pickle *called* the class (REDUCE), not through NEWOBJ:
        # remember which, so that the encoder writes the same opcode back.
        self._called = True

    @property
    def class_path(self) -> str:
        return f"{self.wire_module}.{self.wire_qualname}"

    # What the unpickler may do to an object after creating it --------------------------
    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dict_items.append((key, value))

    # What the encoder asks -------------------------------------------------------------
    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        cls = type(self)
        if self._called:
            head: tuple[Any, ...] = (cls, self.args)
        elif self.kwargs:
            head = (copyreg.__newobj_ex__, (cls, self.args, self.kwargs))  # type: ignore[attr-defined]
        else:
            head = (copyreg.__newobj__, (cls, *self.args))  # type: ignore[attr-defined]
        return (
            *head,
            self.state,
            iter(self.items) if self.items else None,
            iter(self.dict_items) if self.dict_items else None,
        )

    # For people ----------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        try:
            state = object.__getattribute__(self, "state")
        except AttributeError:
            raise AttributeError(name) from None
        if isinstance(state, dict) and name in state:
            return state[name]
        raise AttributeError(f"{self.class_path} object (opaque) has no attribute {name!r}")

    def _key(self) -> tuple[Any, ...]:
        return (
            self.class_path,
            self._called,
            self.args,
            self.kwargs,
            self.state,
            self.items,
            self.dict_items,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Opaque):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        # Enum members are used as dict keys: hash what identifies them, consistently
        # with __eq__ (equal objects have equal class paths and arguments).
        args = self.args if isinstance(self.args, Hashable) else ()
        try:
            return hash((self.class_path, args))
        except TypeError:
            return hash(self.class_path)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        text = f"{self.class_path}({', '.join(parts)})"
        if self.state is not None:
            text += f" state={self.state!r}"
        if self.items:
            text += f" items={self.items!r}"
        if self.dict_items:
            text += f" dict_items={self.dict_items!r}"
        return f"<opaque {text}>"


def opaque_class(module: str, qualname: str) -> type[Opaque]:
    """The :class:`Opaque` subclass standing for ``module.qualname`` (cached, bounded)."""
    key = (module, qualname)
    cls = _CLASS_CACHE.get(key)
    if cls is None:
        cls = type(
            qualname.rpartition(".")[2] or "Opaque",
            (Opaque,),
            {
                "__slots__": (),
                "__module__": __name__,
                # Interned, as CPython's pickler memoises module names by identity: writing
                # them back with the same identity reproduces BLISS's memo references.
                "wire_module": sys.intern(module),
                "wire_qualname": sys.intern(qualname),
            },
        )
        if len(_CLASS_CACHE) < _CLASS_CACHE_MAX:
            _CLASS_CACHE[key] = cls
    return cls
