"""Kinds of channel values (:mod:`tango_channels_device.bridge.kinds`) as Tango attribute types
and values.

| kind              | Tango attribute                                   |
|-------------------|---------------------------------------------------|
| bool, int, float  | DevBoolean, DevLong64, DevDouble (SCALAR)         |
| str, json         | DevString                                         |
| state             | DevState (AxisState READY->ON, MOVING, OFF, else FAULT) |
| enum:<labels>     | DevEnum with those labels                         |
| spectrum:<dtype>  | SPECTRUM of the matching type (str: DevString)    |
| image:<dtype>     | IMAGE of the matching type                        |

Text (string values, channel names) beyond Latin-1 is sent as UTF-8: see :func:`tango_text`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy
import tango
from tango import AttrDataFormat, CmdArgType

from .bridge.kinds import Kind

__all__ = ["TangoType", "client_text", "tango_text", "tango_type"]

MAX_SPECTRUM = 1 << 20
MAX_IMAGE = (4096, 4096)

_SCALARS = {
    "bool": CmdArgType.DevBoolean,
    "int": CmdArgType.DevLong64,
    "float": CmdArgType.DevDouble,
    "str": CmdArgType.DevString,
    "json": CmdArgType.DevString,
    "state": CmdArgType.DevState,
    "enum": CmdArgType.DevEnum,
}
# numpy dtype -> (Tango type, dtype the values are given to Tango in)
_ARRAYS = {
    "bool": (CmdArgType.DevBoolean, "bool"),
    "uint8": (CmdArgType.DevUChar, "uint8"),
    "int8": (CmdArgType.DevShort, "int16"),
    "int16": (CmdArgType.DevShort, "int16"),
    "uint16": (CmdArgType.DevUShort, "uint16"),
    "int32": (CmdArgType.DevLong, "int32"),
    "uint32": (CmdArgType.DevULong, "uint32"),
    "int64": (CmdArgType.DevLong64, "int64"),
    "uint64": (CmdArgType.DevULong64, "uint64"),
    "float32": (CmdArgType.DevFloat, "float32"),
    "float64": (CmdArgType.DevDouble, "float64"),
    "str": (CmdArgType.DevString, None),
}
_PLACEHOLDERS = {
    "bool": False,
    "int": 0,
    "float": 0.0,
    "str": "",
    "json": "",
    "state": tango.DevState.UNKNOWN,
    "enum": 0,
}


@dataclass(frozen=True)
class TangoType:
    """The Tango shape of a kind: data type, format and how to hand values over."""

    kind: Kind
    dtype: CmdArgType
    dformat: AttrDataFormat
    numpy_dtype: str | None = None

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.dtype, self.dformat, self.kind.labels)

    def to_tango(self, value: Any) -> Any:
        """A sample's value (already of the kind) as Tango takes it."""
        if self.kind.name == "state":
            return tango.DevState.names[value]
        if self.dtype == CmdArgType.DevString:
            if self.dformat == AttrDataFormat.SCALAR:
                return tango_text(value)
            return [tango_text(v) for v in value]
        if self.numpy_dtype is not None and value.dtype != self.numpy_dtype:
            return value.astype(self.numpy_dtype)
        return value

    def placeholder(self) -> Any:
        """A value of the right type to go with ATTR_INVALID (PyTango refuses None)."""
        if self.dformat == AttrDataFormat.SCALAR:
            return _PLACEHOLDERS[self.kind.name]
        if self.numpy_dtype is None:
            return [] if self.dformat == AttrDataFormat.SPECTRUM else [[]]
        shape = (0,) if self.dformat == AttrDataFormat.SPECTRUM else (0, 0)
        return numpy.zeros(shape, dtype=self.numpy_dtype)

    def make_attr(self, name: str, writable: bool) -> tango.Attr:
        access = tango.AttrWriteType.READ_WRITE if writable else tango.AttrWriteType.READ
        if self.dformat == AttrDataFormat.SCALAR:
            return tango.Attr(name, self.dtype, access)
        if self.dformat == AttrDataFormat.SPECTRUM:
            return tango.SpectrumAttr(name, self.dtype, access, MAX_SPECTRUM)
        return tango.ImageAttr(name, self.dtype, access, *MAX_IMAGE)


def tango_text(text: str) -> str:
    """``text`` as a DevString can carry it (attribute values, events, command results).

    PyTango (10.3) sends these strings as Latin-1 and raises ``UnicodeError`` (not a DevFailed)
    for any other character: a channel named ``κανάλι`` or a value ``"✓ done"`` would fail
    every read, and every push, of the attribute and of the rest of its batch. Text Latin-1
    holds goes as is; other text goes as its UTF-8 bytes (the channel name's bytes on Redis),
    which a PyTango client turns back with ``.encode("latin-1").decode()``.
    """
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("latin-1")
    return text


def client_text(text: str) -> str:
    """A string a client sent, read as UTF-8 if it is (the converse of :func:`tango_text`):
    PyTango hands it over as Latin-1, and a client can only send text beyond Latin-1 as its
    UTF-8 bytes."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


@functools.cache
def tango_type(kind: Kind) -> TangoType:
    if kind.name in _SCALARS:
        return TangoType(kind, _SCALARS[kind.name], AttrDataFormat.SCALAR)
    dtype, numpy_dtype = _ARRAYS[kind.dtype or "float64"]
    dformat = AttrDataFormat.SPECTRUM if kind.name == "spectrum" else AttrDataFormat.IMAGE
    return TangoType(kind, dtype, dformat, numpy_dtype)
