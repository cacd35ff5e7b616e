"""MessagePack codec for job payloads and envelopes: a C implementation and a pure-Python twin.

``encode`` is byte-identical to ``msgpack.packb(value)`` (``use_bin_type=True``) for every
supported value, and ``decode`` accepts every valid MessagePack encoding of the supported
types. Supported: None, bool, int (-2**63 .. 2**64-1), float (always float64), str, bytes /
bytearray / memoryview (bin), list / tuple (array; decodes to list) and dict with str or
bytes keys (map), nested at most ``MAX_DEPTH`` levels. Subclasses of these types
(``IntEnum``, ``OrderedDict``, ...) are encoded as their base type, as msgpack does.

The C implementation (``rediq._codec_c``, built with cffi from ``native/``) loads when the
extension was built; otherwise, or when the environment sets ``REDIQ_PUREPYTHON=1``, the
pure-Python one (``rediq._codec_py``) does. ``IMPLEMENTATION`` says which ("c" or "python").
Both raise the errors below with the same messages.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["IMPLEMENTATION", "MAX_DEPTH", "CodecError", "DecodeError", "EncodeError", "decode", "encode"]


class CodecError(Exception):
    """Base class of the codec's errors."""


class EncodeError(CodecError, TypeError):
    """A value cannot be encoded; the message names the type and where in the value it is."""


class DecodeError(CodecError, ValueError):
    """Bytes are not one valid MessagePack value; the message says what and at which offset."""


# ----------------------------------------------------------------------------- encode errors

_SUPPORTED = "None, bool, int, float, str, bytes, bytearray, memoryview, list, tuple and dict"
_LIMIT = 0xFFFFFFFF


def _type_name(value: Any) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _path(parts: list[str]) -> str:
    if len(parts) > 12:
        parts = parts[:6] + ["..."] + parts[-5:]
    return "".join(parts)


def _part(key: Any) -> str:
    text = repr(key)
    return f"[{text[:60]}...]" if len(text) > 64 else f"[{text}]"


def _explain(value: Any, max_depth: int) -> EncodeError:
    """Return the EncodeError describing the first thing in ``value`` that cannot be encoded."""
    stack: list[tuple[Any, list[str], int, bool]] = [(value, ["data"], 0, False)]
    while stack:
        v, parts, depth, is_key = stack.pop()
        where = _path(parts)
        if is_key:
            if not isinstance(v, (str, bytes)):
                return EncodeError(
                    f"cannot encode dict key {_part(v)[1:-1]} of type {_type_name(v)} in {where}: "
                    "keys must be str or bytes"
                )
            where = f"key {_part(v)[1:-1]} of {where}"
        if v is None or isinstance(v, (bool, float)):
            continue
        if isinstance(v, int):
            if not -(2**63) <= v < 2**64:
                shown = str(v) if v.bit_length() <= 256 else f"an int of {v.bit_length()} bits"
                return EncodeError(f"int at {where} is outside the 64-bit range -2**63 .. 2**64-1: {shown}")
            continue
        if isinstance(v, str):
            try:
                n = len(str.encode(v, "utf-8"))
            except UnicodeEncodeError as exc:
                reason = f"{exc.reason} at index {exc.start}"
                return EncodeError(f"str at {where} cannot be encoded as UTF-8: {reason}")
            if n > _LIMIT:
                return EncodeError(f"str at {where} is {n} bytes, over msgpack's 2**32-1")
            continue
        if isinstance(v, (bytes, bytearray, memoryview)):
            if isinstance(v, memoryview) and not v.c_contiguous:
                return EncodeError(f"memoryview at {where} is not C-contiguous; pass bytes(view)")
            n = v.nbytes if isinstance(v, memoryview) else len(v)
            if n > _LIMIT:
                return EncodeError(f"{_type_name(v)} at {where} is {n} bytes, over msgpack's 2**32-1")
            continue
        if not isinstance(v, (list, tuple, dict)):
            return EncodeError(f"cannot encode {_type_name(v)} at {where}: supported types are {_SUPPORTED}")
        if depth >= max_depth:
            return EncodeError(f"cannot encode {where}: containers nest deeper than {max_depth} levels")
        if len(v) > _LIMIT:
            return EncodeError(f"{_type_name(v)} at {where} has {len(v)} items, over msgpack's 2**32-1")
        children: list[tuple[Any, list[str], int, bool]] = []
        if isinstance(v, dict):
            for k, x in v.items():
                children.append((k, parts, depth + 1, True))
                children.append((x, parts + [_part(k)], depth + 1, False))
        else:
            children = [(x, parts + [f"[{i}]"], depth + 1, False) for i, x in enumerate(v)]
        stack.extend(reversed(children))
    return EncodeError("cannot encode data: the encoder rejected it, yet no part of it is unsupported")


# ----------------------------------------------------------------------------- decode errors

_KINDS = (
    (0x80, "int"), (0x90, "map"), (0xA0, "array"), (0xC0, "str"), (0xC1, "nil"), (0xC2, "reserved byte"),
    (0xC4, "bool"), (0xC7, "bin"), (0xCA, "ext"), (0xCC, "float"), (0xD4, "int"), (0xD9, "ext"),
    (0xDC, "str"), (0xDE, "array"), (0xE0, "map"), (0x100, "int"),
)


def _kind(byte: int) -> str:
    """Name the msgpack type that a type byte starts."""
    for limit, name in _KINDS:
        if byte < limit:
            return name
    return "value"


def _decode_error(status: int, offset: int, need: int, byte: int, total: int, max_depth: int) -> DecodeError:
    """Return the DecodeError for a failure code of ``native/rediq_codec.h``."""
    at = f"at byte offset {offset}"
    what = f"{_kind(byte)} (type byte 0x{byte:02x}) {at}" if byte >= 0 else at
    if status == 1:
        if byte < 0:
            return DecodeError(f"truncated msgpack data: expected a value {at}, but the data ends there")
        return DecodeError(
            f"truncated msgpack data: the {what} needs {need} bytes, but only {total - offset} remain"
        )
    if status == 2:
        return DecodeError(f"malformed msgpack data: unknown type byte 0x{byte:02x} {at}")
    if status == 3:
        return DecodeError(f"msgpack ext types are not supported: type byte 0x{byte:02x} {at}")
    if status == 4:
        return DecodeError(f"msgpack data nests containers deeper than {max_depth} levels: the {what}")
    if status == 5:
        kind = f"{_kind(byte)} (type byte 0x{byte:02x})"
        return DecodeError(f"map key {at} is {kind}; only str and bin keys are supported")
    if status == 6:
        return DecodeError(f"trailing data after the msgpack value: {need} extra bytes starting {at}")
    if status == 7:
        return DecodeError(f"malformed msgpack data: the str {at} is not valid UTF-8")
    return DecodeError(f"malformed msgpack data {at} (status {status})")


# ----------------------------------------------------------------------------- implementation

def _load() -> Any:
    global C_UNAVAILABLE_REASON
    if os.environ.get("REDIQ_PUREPYTHON", "") not in ("", "0"):
        from . import _codec_py

        C_UNAVAILABLE_REASON = "REDIQ_PUREPYTHON is set"
        return _codec_py
    try:
        from . import _codec_c

        return _codec_c
    except ImportError as exc:
        C_UNAVAILABLE_REASON = f"{type(exc).__name__}: {exc}"
        from . import _codec_py

        return _codec_py


#: Why the C implementation is not in use (None when it is).
C_UNAVAILABLE_REASON: str | None = None
_impl = _load()
encode = _impl.encode
decode = _impl.decode
IMPLEMENTATION: str = _impl.IMPLEMENTATION
MAX_DEPTH: int = _impl.MAX_DEPTH
