"""The wire codec: BLISS's three channel messages, byte for byte, without running their code.

- :mod:`.messages`: our plain versions of ``_Value``, ``_Query`` and ``_Reply``;
- :mod:`.decode`: bytes -> messages, through the allow-list unpickler (:mod:`.unpickler`,
  :mod:`.safe_numpy`); classes we don't have become inert :mod:`.opaque` records;
- :mod:`.encode`: messages -> the bytes BLISS's own pickler writes (:mod:`.layout`).

Everything here is pure: no socket, no thread, no clock.
"""
