"""The byte layout BLISS's pickler gives a ``_Value`` message, shared by decoder and encoder.

``pickle.dumps(_Value(id, timestamp, value), protocol=4)`` in BLISS writes, in one FRAME:
the class global (``'bliss.config.channels'``, ``'_Value'``, STACK_GLOBAL, each memoised), the
memoised sender id, the BINFLOAT timestamp, the value, then TUPLE3 NEWOBJ STOP. When the value
starts, the memo holds exactly those four entries, so the value's bytes can be lifted out and
replayed after the same four entries in another message (see :mod:`tango_channels.wire.encode`).
"""

from __future__ import annotations

from .messages import WIRE_MODULE

__all__ = ["VALUE_HEAD", "VALUE_TAIL", "canonical_value_span", "frame", "str_op"]

PROTO_4 = b"\x80\x04"
VALUE_HEAD = b"\x8c\x15" + WIRE_MODULE.encode() + b"\x94\x8c\x06_Value\x94\x93\x94"
VALUE_TAIL = b"\x87\x94\x81\x94."  # TUPLE3 MEMOIZE NEWOBJ MEMOIZE STOP


def str_op(text: str) -> bytes:
    """The opcode CPython's pickler writes for ``text`` at protocol 4 (not memoised)."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) < 256:
        return b"\x8c" + bytes((len(data),)) + data
    return b"X" + len(data).to_bytes(4, "little") + data


def frame(body: bytes) -> bytes:
    """PROTO 4 and ``body`` in one FRAME, as CPython frames a message under 64 KiB."""
    if len(body) < 4:
        return PROTO_4 + body
    return PROTO_4 + b"\x95" + len(body).to_bytes(8, "little") + body


def canonical_value_span(data: bytes) -> tuple[int, int] | None:
    """Where the value lies in a ``_Value`` message with BLISS's exact layout, else None."""
    if data[:3] != b"\x80\x04\x95" or not data.endswith(VALUE_TAIL):
        return None
    if int.from_bytes(data[3:11], "little") != len(data) - 11:
        return None
    pos = 11
    if not data.startswith(VALUE_HEAD, pos):
        return None
    pos += len(VALUE_HEAD)
    if data[pos : pos + 1] != b"\x8c":
        return None
    pos += 2 + data[pos + 1]
    if data[pos : pos + 2] != b"\x94G":
        return None
    start = pos + 2 + 8
    end = len(data) - len(VALUE_TAIL)
    return (start, end) if start < end else None
