"""The C MessagePack codec: the one module that touches the cffi extension's ``ffi``/``lib``.

cffi cannot build Python objects in C, so the C code (``native/rediq_codec.c``) transcodes
between MessagePack and CPython's marshal format, and the interpreter's own C code builds
or flattens the objects:

- ``encode``: ``marshal.dumps(value, 4)`` flattens the value in C; ``rediq_marshal_to_msgpack``
  rewrites that stream as MessagePack. Whatever marshal or the transcoder refuses (subclasses,
  unsupported types, ints beyond 64 bits, ...) goes to the pure-Python encoder, which encodes
  it or raises the EncodeError that says where the problem is.
- ``decode``: ``rediq_msgpack_to_marshal`` validates the MessagePack (bounds, UTF-8, depth,
  key types) and writes a marshal stream; ``marshal.loads`` builds the objects.

Scratch buffers (each with its ``rediq_call`` context) come from a small pool (a list;
``pop``/``append`` are atomic), so threads never share one while cffi has released the GIL,
and a re-entrant call (a signal handler) simply takes another.

Importing this module raises ImportError when the extension is missing or a self-test shows
that this interpreter's marshal format is not the one the C code speaks; ``rediq.codec``
then falls back to the pure-Python codec.
"""

from __future__ import annotations

import marshal
from typing import Any, Callable

from . import _codec_py as _py
# ImportError when the extension was not built (rediq.codec then uses the Python codec).
from ._rediq_codec import ffi, lib  # type: ignore[import-not-found, unused-ignore]

IMPLEMENTATION = "c"
MAX_DEPTH = _py.MAX_DEPTH

_OUTPUT, _TOO_BIG = lib.REDIQ_ERR_OUTPUT, lib.REDIQ_ERR_TOO_BIG
_POOL_MAX = 1 << 20  # scratch buffers larger than this are used once, not pooled
_MIN = 1 << 16

_dumps, _loads = marshal.dumps, marshal.loads
_to_marshal, _to_msgpack = lib.rediq_msgpack_to_marshal, lib.rediq_marshal_to_msgpack
_from_buffer = ffi.from_buffer
# A scratch: (bytearray, a memoryview of it, its capacity, the rediq_call * that points at
# it, the cffi buffer that keeps it exported).
_Scratch = tuple[bytearray, memoryview, int, Any, Any]
_pool: list[_Scratch] = []
_take, _give = _pool.pop, _pool.append


def _scratch(size: int) -> _Scratch:
    buf = bytearray(max(size, _MIN))
    call = ffi.new("rediq_call *")
    call.dst = ptr = _from_buffer(buf)
    call.dst_cap = len(buf)
    call.max_depth = MAX_DEPTH
    return buf, memoryview(buf), len(buf), call, ptr  # ptr keeps the buffer export alive


def encode(value: Any) -> bytes:
    """Encode ``value`` as MessagePack, byte-identical to ``msgpack.packb(value)``.

    Raises:
        EncodeError: As :func:`rediq._codec_py.encode` (same messages).
    """
    try:
        flat = _dumps(value, 4)
    except Exception:  # noqa: BLE001 - a subclass, an unsupported type, too deep: Python decides
        return _py.encode(value)
    n = len(flat)
    try:
        s = _take()
    except IndexError:
        s = _scratch(2 * n + 64)
    if s[2] < 2 * n + 64:  # enough unless back-references repeat large values
        s = _replace(s, 2 * n + 64)
    status = _to_msgpack(flat, n, s[3])
    while status == _OUTPUT:  # back-references expanded past the buffer
        s = _replace(s, 4 * s[2])
        status = _to_msgpack(flat, n, s[3])
    if status:
        return _py.encode(value)  # raises the EncodeError naming type and path
    call = s[3]
    out: bytes = s[1][: call.length].tobytes()
    bins = call.bins
    if s[2] <= _POOL_MAX:
        _give(s)
    if bins and not _plain_buffers(value):
        return _py.encode(value)  # marshal wrote some other buffer object (array, numpy) as bytes
    return out


def _plain_buffers(value: Any) -> bool:
    """Return True when every bytes-like object in ``value`` is bytes, bytearray or memoryview.

    marshal writes any object with the buffer protocol as bytes; msgpack accepts only these.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is list or t is tuple:
            stack.extend(v)
        elif t is dict:
            for k in v:
                if not isinstance(k, (str, bytes)):
                    return False
            stack.extend(v.values())
        elif t not in _SCALARS and not isinstance(v, (bytes, bytearray)):
            return False
    return True


_SCALARS = frozenset((str, int, float, bool, type(None), bytes, bytearray, memoryview))


def decode(data: bytes | bytearray | memoryview) -> Any:
    """Decode exactly one MessagePack value; see :func:`rediq._codec_py.decode`.

    Raises:
        DecodeError: As :func:`rediq._codec_py.decode` (same messages).
        TypeError: ``data`` is not bytes-like.
    """
    if type(data) is not bytes:
        return _decode_other(data)
    n = len(data)
    try:
        s = _take()
    except IndexError:
        s = _scratch(n * 5 + 16)
    buf, _, cap, call, _ = s
    if cap < n * 5 + 16:  # rediq_decode_bound(n), without a call
        return _decode_large(data, data, n, s)
    status = _to_marshal(data, n, call)
    if status:
        return _failed(status, s, data, n)
    try:
        value = _loads(buf)  # marshal ignores the stale bytes after the stream
    except (ValueError, EOFError, TypeError):  # never expected; the Python decoder decides
        return _py.decode(data)
    _give(s)
    return value


def _decode_other(data: Any) -> Any:
    """Decode a bytearray, memoryview (or a bytes subclass) without copying it."""
    if isinstance(data, bytes):  # a bytes subclass
        return decode(bytes(data))
    if not isinstance(data, (bytearray, memoryview)):
        return _py.decode(data)  # raises the TypeError
    try:
        src = _from_buffer(data)
    except (TypeError, BufferError, ValueError):  # a non-contiguous memoryview
        return decode(bytes(data))
    return _decode_large(data, src, len(src), None)


def _decode_large(data: Any, src: Any, n: int, small: _Scratch | None) -> Any:
    """Decode with a new scratch buffer of the right size.

    The new buffer replaces ``small`` (a pooled one that was too small) in the pool when it
    is not too large to keep; otherwise ``small`` goes back.
    """
    s = _replace(small, n * 5 + 16)
    status = _to_marshal(src, n, s[3])
    if status:
        return _failed(status, s, data, n)
    try:
        value = _loads(s[0])
    except (ValueError, EOFError, TypeError):  # never expected; the Python decoder decides
        return _py.decode(data)
    if s[2] <= _POOL_MAX:
        _give(s)
    return value


def _replace(small: _Scratch | None, size: int) -> _Scratch:
    """Return a new scratch of ``size`` bytes.

    ``small`` (a scratch that proved too small) goes back to the pool when it is poolable
    and the new one is not, so the pool keeps its size.
    """
    if small is not None and size > _POOL_MAX >= small[2]:
        _give(small)
    return _scratch(size)


def _failed(status: int, s: _Scratch, data: Any, n: int) -> Any:
    """Raise the DecodeError for a failed C call (or decode in Python when C cannot)."""
    call = s[3]
    offset, need, byte = call.offset, call.need, call.byte
    if s[2] <= _POOL_MAX:
        _give(s)
    if status == _TOO_BIG:
        return _py.decode(data)
    raise _py.decode_error(status, offset, need, byte, n)


def _self_test(enc: Callable[[Any], bytes] = encode, dec: Callable[[bytes], Any] = decode) -> None:
    """Check that this interpreter's marshal matches the format the C code speaks.

    Raises:
        ImportError: It does not; ``rediq.codec`` then uses the Python codec.
    """
    sample = {
        "s": "ascii", "u": "ünï", "b": b"\x00\xff", "n": [None, True, False], "t": (1, -1, 2**40, -(2**63)),
        "f": 0.5, "big": 2**64 - 1, "d": {"k": [{"x": 1}, {"x": 2}]}, "long": "x" * 300,
    }
    try:
        packed = _py.encode(sample)
        same = enc(sample) == packed and dec(packed) == _py.decode(packed)
    except Exception as exc:  # noqa: BLE001 - any failure means "do not use the C codec"
        raise ImportError(f"rediq C codec self-test failed: {exc!r}") from exc
    if not same:
        raise ImportError("rediq C codec self-test failed: this Python's marshal format differs")


_self_test()
