"""Pure-Python MessagePack codec: rediq's fallback, byte-identical to ``msgpack.packb``.

Encoding dispatches on ``type(value)`` through a dict and appends to one ``bytearray``; it
never tracks where it is, so the hot path stays lean. When it meets something it cannot
encode it stops, and :func:`explain` walks the value again, with paths, to say exactly
what and where. Decoding is a recursive reader over ``bytes`` whose errors carry the byte
offset; their wording (:func:`decode_error`) is shared with the C implementation.

Subclasses of the supported types (``IntEnum``, ``OrderedDict``, ``str`` subclasses, ...)
are encoded as their base type, as ``msgpack.packb`` does.
"""

from __future__ import annotations

import struct
import sys
from typing import Any, Callable, NoReturn

IMPLEMENTATION = "python"
MAX_DEPTH = 512

_Enc = Callable[[Any, bytearray, int], None]
_BB, _BH, _BI, _BQ = (struct.Struct(">B" + c).pack for c in "BHIQ")
_Bb, _Bh, _Bi, _Bq = (struct.Struct(">B" + c).pack for c in "bhiq")
_Bd = struct.Struct(">Bd").pack
_H, _I, _f, _d = (struct.Struct(">" + c).unpack_from for c in "HIfd")
_h, _i, _q, _Q = (struct.Struct(">" + c).unpack_from for c in "hiqQ")
_intern = sys.intern


class _Stop(Exception):
    """Raised by the fast encoder; :func:`explain` then finds and describes the problem."""


def _enc_none(v: None, out: bytearray, depth: int) -> None:
    out.append(0xC0)


def _enc_bool(v: bool, out: bytearray, depth: int) -> None:
    out.append(0xC3 if v else 0xC2)


def _enc_int(v: int, out: bytearray, depth: int) -> None:
    if v >= 0:
        if v < 0x80:
            out.append(v)
        elif v < 0x100:
            out += _BB(0xCC, v)
        elif v < 0x10000:
            out += _BH(0xCD, v)
        elif v < 0x100000000:
            out += _BI(0xCE, v)
        elif v < 0x10000000000000000:
            out += _BQ(0xCF, v)
        else:
            raise _Stop
    elif v >= -0x20:
        out.append(v + 0x100)
    elif v >= -0x80:
        out += _Bb(0xD0, v)
    elif v >= -0x8000:
        out += _Bh(0xD1, v)
    elif v >= -0x80000000:
        out += _Bi(0xD2, v)
    elif v >= -0x8000000000000000:
        out += _Bq(0xD3, v)
    else:
        raise _Stop


def _enc_float(v: float, out: bytearray, depth: int) -> None:
    out += _Bd(0xCB, v)


def _enc_str(v: str, out: bytearray, depth: int) -> None:
    b = v.encode()
    n = len(b)
    if n < 0x20:
        out.append(0xA0 | n)
    elif n < 0x100:
        out += _BB(0xD9, n)
    elif n < 0x10000:
        out += _BH(0xDA, n)
    elif n < 0x100000000:
        out += _BI(0xDB, n)
    else:
        raise _Stop
    out += b


def _enc_bin(v: bytes | bytearray | memoryview, out: bytearray, depth: int) -> None:
    n = v.nbytes if type(v) is memoryview else len(v)
    if n < 0x100:
        out += _BB(0xC4, n)
    elif n < 0x10000:
        out += _BH(0xC5, n)
    elif n < 0x100000000:
        out += _BI(0xC6, n)
    else:
        raise _Stop
    out += v


def _enc_list(v: list[Any] | tuple[Any, ...], out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise _Stop
    n = len(v)
    if n < 0x10:
        out.append(0x90 | n)
    elif n < 0x10000:
        out += _BH(0xDC, n)
    elif n < 0x100000000:
        out += _BI(0xDD, n)
    else:
        raise _Stop
    depth += 1
    get = _ENCODERS.get
    for x in v:
        (get(type(x)) or _subclass_encoder(x))(x, out, depth)


def _enc_dict(v: dict[Any, Any], out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise _Stop
    n = len(v)
    if n < 0x10:
        out.append(0x80 | n)
    elif n < 0x10000:
        out += _BH(0xDE, n)
    elif n < 0x100000000:
        out += _BI(0xDF, n)
    else:
        raise _Stop
    depth += 1
    get = _ENCODERS.get
    for k, x in v.items():
        if type(k) is str:
            b = k.encode()
            if len(b) < 0x20:
                out.append(0xA0 | len(b))
                out += b
            else:
                _enc_str(k, out, depth)
        elif isinstance(k, (str, bytes)):
            _subclass_encoder(k)(k, out, depth)
        else:
            raise _Stop
        (get(type(x)) or _subclass_encoder(x))(x, out, depth)


_ENCODERS: dict[type, _Enc] = {
    type(None): _enc_none, bool: _enc_bool, int: _enc_int, float: _enc_float, str: _enc_str,
    bytes: _enc_bin, bytearray: _enc_bin, memoryview: _enc_bin,
    list: _enc_list, tuple: _enc_list, dict: _enc_dict,
}
# Checked in this order for subclasses (the order msgpack.packb checks them in). Each
# conversion reads the base type's own data, as msgpack does, not an overridden method;
# dict subclasses go through .items(), also as msgpack does.
_BASES: tuple[tuple[type, Callable[[Any], Any], _Enc], ...] = (
    (int, int.__index__, _enc_int), (float, float.__float__, _enc_float),
    (bytes, memoryview, _enc_bin), (bytearray, memoryview, _enc_bin), (str, str.__str__, _enc_str),
    (dict, lambda d: dict(d.items()), _enc_dict), (tuple, tuple, _enc_list), (list, list, _enc_list),
)


def _subclass_encoder(v: Any) -> _Enc:
    """Return an encoder that encodes ``v`` (a subclass instance) as its base type."""
    for base, convert, enc in _BASES:
        if isinstance(v, base):
            return lambda x, out, depth: enc(convert(x), out, depth)
    raise _Stop


def encode(value: Any) -> bytes:
    """Encode ``value`` as MessagePack, byte-identical to ``msgpack.packb(value)``.

    Raises:
        EncodeError: The value holds an unsupported type, a dict key that is neither
            str nor bytes, an int outside 64 bits, a str that is not valid Unicode, or
            containers nested deeper than ``MAX_DEPTH``; the message says where.
    """
    out = bytearray()
    try:
        try:
            (_ENCODERS.get(type(value)) or _subclass_encoder(value))(value, out, 0)
        except RecursionError:  # deep data, called from deep in the stack: retry with room
            out = bytearray()
            _with_room(_ENCODERS.get(type(value)) or _subclass_encoder(value), value, out, 0)
    except (_Stop, UnicodeEncodeError, RecursionError, BufferError, ValueError, TypeError):
        explain(value)
    return bytes(out)


def _with_room(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn`` with the recursion limit raised enough for ``MAX_DEPTH`` nested levels.

    Both directions recurse once or twice per nesting level, so data near the depth limit
    needs more frames than Python's default limit leaves. This is the rare path.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 3 * MAX_DEPTH)
    try:
        return fn(*args)
    finally:
        sys.setrecursionlimit(limit)


def explain(value: Any) -> NoReturn:
    """Raise the EncodeError that says what in ``value`` cannot be encoded, and where."""
    from .codec import _explain  # imported late: rediq.codec imports this module

    raise _explain(value, MAX_DEPTH)


def decode_error(status: int, offset: int, need: int, byte: int, total: int) -> Exception:
    """Return the DecodeError for a failure (codes as in ``native/rediq_codec.h``)."""
    from .codec import _decode_error  # imported late: rediq.codec imports this module

    return _decode_error(status, offset, need, byte, total, MAX_DEPTH)


# Decode failures; the numbers are the C codec's (native/rediq_codec.h, enum rediq_status).
TRUNCATED, BAD_TYPE, EXT, DEPTH, KEY_TYPE, TRAILING, UTF8 = range(1, 8)
_Read = Callable[[bytes, int, int], "tuple[Any, int]"]


def _fail(status: int, offset: int, need: int, byte: int, data: bytes) -> NoReturn:
    raise decode_error(status, offset, need, byte, len(data))


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode exactly one MessagePack value (any valid encoding, not only the minimal one).

    Returns str for str, bytes for bin, list for array, dict for map (str keys interned,
    as msgpack does), float for float32 and float64.

    Raises:
        DecodeError: The data is truncated, malformed, has trailing bytes, uses ext types,
            nests deeper than ``MAX_DEPTH``, or has a map key that is not str or bin; the
            message gives the byte offset.
        TypeError: ``data`` is not bytes-like.
    """
    if type(data) is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"decode() needs bytes, bytearray or memoryview, not {type(data).__name__}")
        data = bytes(data)
    try:
        obj, pos = _unpack(data, 0, 0)
    except RecursionError:  # deep data, called from deep in the stack: retry with room
        obj, pos = _with_room(_unpack, data, 0, 0)
    if pos != len(data):
        _fail(TRAILING, pos, len(data) - pos, data[pos], data)
    return obj


def _unpack(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    """Read the value at ``pos`` inside ``depth`` containers; return it and the next offset."""
    try:
        b = data[pos]
    except IndexError:
        _fail(TRUNCATED, pos, 0, -1, data)
    if b < 0x80:
        return b, pos + 1
    if b >= 0xE0:
        return b - 0x100, pos + 1
    if b >= 0xA0:
        if b >= 0xC0:
            return _READERS[b - 0xC0](data, pos, depth)
        end = pos + 1 + (b & 0x1F)
        if end > len(data):
            _fail(TRUNCATED, pos, end - pos, b, data)
        try:
            return data[pos + 1 : end].decode(), end
        except UnicodeDecodeError:
            _fail(UTF8, pos, 0, b, data)
    if depth >= MAX_DEPTH:
        _fail(DEPTH, pos, 0, b, data)
    if b < 0x90:
        return _map(data, pos + 1, b & 0x0F, depth + 1)
    return _array(data, pos + 1, b & 0x0F, depth + 1)


def _array(data: bytes, pos: int, n: int, depth: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    append = items.append
    for _ in range(n):
        v, pos = _unpack(data, pos, depth)
        append(v)
    return items, pos


_KEY_BYTES = frozenset((0xC4, 0xC5, 0xC6, 0xD9, 0xDA, 0xDB))


def _map(data: bytes, pos: int, n: int, depth: int) -> tuple[dict[Any, Any], int]:
    out: dict[Any, Any] = {}
    end = len(data)
    for _ in range(n):
        if pos >= end:
            _fail(TRUNCATED, pos, 0, -1, data)
        b = data[pos]
        if 0xA0 <= b <= 0xBF:
            kend = pos + 1 + (b & 0x1F)
            if kend > end:
                _fail(TRUNCATED, pos, kend - pos, b, data)
            try:
                key: Any = _intern(data[pos + 1 : kend].decode())
            except UnicodeDecodeError:
                _fail(UTF8, pos, 0, b, data)
            pos = kend
        elif b in _KEY_BYTES:
            key, pos = _unpack(data, pos, depth)
            if type(key) is str:
                key = _intern(key)
        else:
            _fail(KEY_TYPE, pos, 0, b, data)
        out[key], pos = _unpack(data, pos, depth)
    return out, pos


def _const(value: Any) -> _Read:
    return lambda data, pos, depth: (value, pos + 1)


def _error(status: int) -> _Read:
    def read(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
        _fail(status, pos, 0, data[pos], data)

    return read


def _fixed(size: int, unpack: Callable[[bytes, int], tuple[Any]]) -> _Read:
    def read(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
        if pos + size > len(data):
            _fail(TRUNCATED, pos, size, data[pos], data)
        return unpack(data, pos + 1)[0], pos + size

    return read


def _raw(size: int, length: Callable[[bytes, int], tuple[int]], is_str: bool) -> _Read:
    def read(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
        if pos + size > len(data):
            _fail(TRUNCATED, pos, size, data[pos], data)
        end = pos + size + length(data, pos + 1)[0]
        if end > len(data):
            _fail(TRUNCATED, pos, end - pos, data[pos], data)
        if not is_str:
            return data[pos + size : end], end
        try:
            return data[pos + size : end].decode(), end
        except UnicodeDecodeError:
            _fail(UTF8, pos, 0, data[pos], data)

    return read


def _container(size: int, length: Callable[[bytes, int], tuple[int]], is_map: bool) -> _Read:
    def read(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
        if depth >= MAX_DEPTH:
            _fail(DEPTH, pos, 0, data[pos], data)
        if pos + size > len(data):
            _fail(TRUNCATED, pos, size, data[pos], data)
        n = length(data, pos + 1)[0]
        return (_map if is_map else _array)(data, pos + size, n, depth + 1)

    return read


_u8: Callable[[bytes, int], tuple[int]] = lambda data, pos: (data[pos],)  # noqa: E731
_s8: Callable[[bytes, int], tuple[int]] = lambda data, pos: ((data[pos] ^ 0x80) - 0x80,)  # noqa: E731
_READERS: list[_Read] = [
    _const(None), _error(BAD_TYPE), _const(False), _const(True),  # c0..c3
    _raw(2, _u8, False), _raw(3, _H, False), _raw(5, _I, False),  # c4..c6 bin
    _error(EXT), _error(EXT), _error(EXT),  # c7..c9 ext
    _fixed(5, _f), _fixed(9, _d),  # ca, cb float
    _fixed(2, _u8), _fixed(3, _H), _fixed(5, _I), _fixed(9, _Q),  # cc..cf uint
    _fixed(2, _s8), _fixed(3, _h), _fixed(5, _i), _fixed(9, _q),  # d0..d3 int
    _error(EXT), _error(EXT), _error(EXT), _error(EXT), _error(EXT),  # d4..d8 fixext
    _raw(2, _u8, True), _raw(3, _H, True), _raw(5, _I, True),  # d9..db str
    _container(3, _H, False), _container(5, _I, False),  # dc, dd array
    _container(3, _H, True), _container(5, _I, True),  # de, df map
]
