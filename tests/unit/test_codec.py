"""The MessagePack codec: both implementations, byte-identical to msgpack, with clear errors.

Every behaviour test runs against the pure-Python codec and the C codec (skipped, with the
reason, when the extension is not built; set REDIQ_REQUIRE_C_CODEC=1 to make that a failure).
"""

from __future__ import annotations

import array
import collections
import datetime
import enum
import math
import os
import re
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rediq import _codec_py, codec
from rediq.codec import CodecError, DecodeError, EncodeError

C_MISSING = ""
try:
    from rediq import _codec_c
except ImportError as exc:  # the extension was not built
    _codec_c = None
    C_MISSING = f"C codec not built ({exc}); build it with `python setup.py build_ext --inplace`"

IMPLS = [
    pytest.param(_codec_py, id="python"),
    pytest.param(_codec_c, id="c", marks=pytest.mark.skipif(_codec_c is None, reason=C_MISSING)),
]
BOTH = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return request.param


def packed(value: Any) -> bytes:
    return msgpack.packb(value)


def same(a: Any, b: Any) -> bool:
    """Equal as msgpack sees it (NaN equals NaN, tuples equal lists)."""
    return msgpack.packb(a) == msgpack.packb(b)


# ----------------------------------------------------------------------------- which codec loads

def test_c_codec_loaded_when_required_by_ci() -> None:
    if os.environ.get("REDIQ_REQUIRE_C_CODEC") != "1":
        pytest.skip("REDIQ_REQUIRE_C_CODEC=1 not set; CI sets it to prove the C codec loaded")
    assert codec.IMPLEMENTATION == "c", f"C codec did not load: {codec.C_UNAVAILABLE_REASON}"


def _implementation_in_subprocess(env_extra: dict[str, str]) -> str:
    src = str(Path(codec.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env.pop("REDIQ_PUREPYTHON", None)
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", "from rediq import codec; print(codec.IMPLEMENTATION)"],
        env=env, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def test_purepython_env_var_forces_python_implementation() -> None:
    assert _implementation_in_subprocess({"REDIQ_PUREPYTHON": "1"}) == "python"


@pytest.mark.skipif(_codec_c is None, reason="C codec not built")
def test_c_implementation_loads_by_default_when_built() -> None:
    assert _implementation_in_subprocess({}) == "c"


def test_python_codec_loads_silently_when_the_extension_cannot_be_imported() -> None:
    src = str(Path(codec.__file__).resolve().parents[1])
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rediq._rediq_codec': raise ImportError('blocked by the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from rediq import codec; print(codec.IMPLEMENTATION); print(codec.C_UNAVAILABLE_REASON)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env.pop("REDIQ_PUREPYTHON", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["python", "ImportError: blocked by the test"]
    assert out.stderr == ""


@pytest.mark.skipif(_codec_c is None, reason="C codec not built")
def test_c_codec_self_test_refuses_a_marshal_that_does_not_round_trip() -> None:
    _codec_c._self_test()  # the real one passes
    with pytest.raises(ImportError, match="self-test failed: this Python's marshal format differs"):
        _codec_c._self_test(dec=lambda data: {"not": "what was written"})
    with pytest.raises(ImportError, match="self-test failed: ValueError"):
        _codec_c._self_test(enc=lambda value: (_ for _ in ()).throw(ValueError("bad marshal")))


def test_public_module_exports_the_loaded_implementation() -> None:
    assert codec.IMPLEMENTATION in ("c", "python")
    assert codec.encode is (_codec_c if codec.IMPLEMENTATION == "c" else _codec_py).encode
    assert codec.MAX_DEPTH == 512


def test_error_classes_are_codec_errors_and_builtin_kinds() -> None:
    assert issubclass(EncodeError, CodecError) and issubclass(EncodeError, TypeError)
    assert issubclass(DecodeError, CodecError) and issubclass(DecodeError, ValueError)


@pytest.mark.skipif(_codec_c is None, reason="C codec not built")
def test_python_status_codes_match_the_c_header() -> None:
    lib = _codec_c.lib
    assert (_codec_py.TRUNCATED, _codec_py.BAD_TYPE, _codec_py.EXT, _codec_py.DEPTH) == (
        lib.REDIQ_ERR_TRUNCATED, lib.REDIQ_ERR_BAD_TYPE, lib.REDIQ_ERR_EXT, lib.REDIQ_ERR_DEPTH)
    assert (_codec_py.KEY_TYPE, _codec_py.TRAILING, _codec_py.UTF8) == (
        lib.REDIQ_ERR_KEY_TYPE, lib.REDIQ_ERR_TRAILING, lib.REDIQ_ERR_UTF8)
    assert lib.rediq_decode_bound(1000) == 1000 * 5 + 16


# ----------------------------------------------------------------------------- encoding examples

BOUNDARY_INTS = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63),
    2**31 - 1, 2**31, -(2**31) + 1, 2**15, 2**30, 2**45, -(2**45),
]
SIZES = [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536]
EXAMPLES: list[Any] = [
    None, True, False, 0.0, -0.0, 1.5, float("inf"), float("-inf"), 1e308, 5e-324, "", "abc", "é",
    "日本語", "\U0001f600", b"", b"\x00\xff", bytearray(b"ba"), memoryview(b"mv"), [], (), {},
    [1, [2, [3, []]]], (1, "two", b"3"), {"a": {"b": {"c": [None]}}}, {b"bin": 1, "str": 2},
    {"user": {"id": 1, "tags": ["a", "b"]}, "items": [{"sku": "x", "qty": 2}] * 3},
    *BOUNDARY_INTS,
    *["x" * n for n in SIZES], *["é" * n for n in (15, 16, 127, 128, 32767, 32768)],
    *[b"y" * n for n in SIZES], *[list(range(n)) for n in (15, 16, 65535, 65536)],
    *[{f"k{i}": i for i in range(n)} for n in (15, 16, 65535, 65536)],
    tuple(range(300)), {"a": [bytearray(b"x"), memoryview(b"y")], b"k": bytearray()},
    [{"ключ": 1, b"k": 2}, {"ключ": 3, b"k": 4}],
]


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: repr(v)[:40])
def test_encode_matches_msgpack_packb_for_examples(impl: ModuleType, value: Any) -> None:
    assert impl.encode(value) == packed(value)


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: repr(v)[:40])
def test_decode_round_trips_examples(impl: ModuleType, value: Any) -> None:
    decoded = impl.decode(packed(value))
    assert same(decoded, value)
    assert decoded == msgpack.unpackb(packed(value))


def test_nan_encodes_like_msgpack_and_decodes_to_nan(impl: ModuleType) -> None:
    assert impl.encode(float("nan")) == packed(float("nan"))
    assert math.isnan(impl.decode(packed(float("nan"))))


def test_decode_gives_list_for_tuples_and_bytes_for_bin(impl: ModuleType) -> None:
    assert impl.decode(impl.encode((1, (2,)))) == [1, [2]]
    assert type(impl.decode(impl.encode(bytearray(b"x")))) is bytes
    assert type(impl.decode(impl.encode(memoryview(b"x")))) is bytes


def test_repeated_map_keys_decode_to_one_shared_str(impl: ModuleType) -> None:
    rows = impl.decode(packed([{"name": 1}, {"name": 2}, {"name": 3}]))
    keys = [next(iter(row)) for row in rows]
    assert keys[0] is keys[1] is keys[2]


class Color(enum.IntEnum):
    RED = 1
    BIG = 2**40


class Name(str):
    pass


class Blob(bytes):
    pass


class Ratio(float):
    pass


class Fixed(bytearray):
    pass


class Point(NamedTuple):
    x: int
    y: float


SUBCLASSED: list[Any] = [
    Color.RED, Color.BIG, [Color.RED], Name("n"), {Name("key"): Name("value")}, Blob(b"b"),
    collections.OrderedDict([("b", 1), ("a", 2)]), collections.defaultdict(list, {"x": [1]}),
    Point(1, 2.5), [Point(3, 4.0)], {"nested": collections.OrderedDict(z=Color.BIG)},
    Ratio(0.25), [Ratio(-1e300)], Fixed(b"fixed"), {"blob": Blob(b"\x00" * 300)},
]


@pytest.mark.parametrize("value", SUBCLASSED, ids=lambda v: type(v).__name__)
def test_subclasses_of_supported_types_encode_as_their_base_type(impl: ModuleType, value: Any) -> None:
    assert impl.encode(value) == packed(value)


def test_memoryview_of_wider_items_encodes_its_raw_bytes(impl: ModuleType) -> None:
    view = memoryview(array.array("i", [1, 2, 3]))
    assert impl.encode(view) == packed(view) == packed(view.tobytes())


def test_shared_and_repeated_objects_encode_every_occurrence(impl: ModuleType) -> None:
    inner = {"k": ["v"] * 3}
    value = {"a": inner, "b": [inner, inner], "c": "shared" * 1000, "d": ["shared" * 1000] * 50}
    assert impl.encode(value) == packed(value)


def test_shared_list_repeated_deeper_than_the_depth_limit_is_an_encode_error(impl: ModuleType) -> None:
    inner = _nested(300)
    outer: Any = inner
    for _ in range(250):
        outer = [outer]
    assert impl.encode([inner, _nested(200)]) == packed([inner, _nested(200)])
    with pytest.raises(EncodeError, match="deeper than 512 levels"):
        impl.encode([inner, outer])  # the second occurrence of inner sits 251 levels down


def test_many_repeats_of_a_large_value_encode_past_the_scratch_buffer(impl: ModuleType) -> None:
    big = "z" * 100_000
    value = [big] * 60 + [{"k": big}] * 5
    assert impl.encode(value) == packed(value)


def test_threads_encoding_and_decoding_at_once_get_their_own_results(impl: ModuleType) -> None:
    payloads = [{"worker": w, "items": [{"n": i, "s": "x" * (i % 300)} for i in range(w * 40)]} for w in range(8)]
    errors: list[str] = []

    def work(w: int) -> None:
        mine = payloads[w]
        expected = packed(mine)
        for _ in range(150):
            data = impl.encode(mine)
            if data != expected or impl.decode(data) != mine:
                errors.append(f"thread {w} got another thread's result")
                return

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.skipif(_codec_c is None, reason="C codec not built")
def test_c_scratch_pool_keeps_its_size_across_payloads_too_large_to_pool() -> None:
    _codec_c.decode(packed([1]))
    before = len(_codec_c._pool)
    huge = ["w" * 600_000]
    for _ in range(3):
        assert _codec_c.decode(packed(huge)) == huge
        assert _codec_c.encode(huge * 8) == packed(huge * 8)
    assert len(_codec_c._pool) == before
    assert all(scratch[2] <= _codec_c._POOL_MAX for scratch in _codec_c._pool)


# ----------------------------------------------------------------------------- property tests

keys = st.text(max_size=12) | st.binary(max_size=12)
scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.integers(-300, 300)
    | st.floats() | st.text() | st.binary()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=8) | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(keys, inner, max_size=8),
    max_leaves=40,
)


@BOTH
@given(values)
def test_both_implementations_encode_identical_bytes_to_msgpack(value: Any) -> None:
    expected = packed(value)
    assert _codec_py.encode(value) == expected
    if _codec_c is not None:
        assert _codec_c.encode(value) == expected


@BOTH
@given(values)
def test_decode_of_encode_round_trips(value: Any) -> None:
    for impl in (_codec_py, _codec_c):
        if impl is not None:
            assert same(impl.decode(impl.encode(value)), value)


@BOTH
@given(values)
def test_decode_accepts_everything_msgpack_packb_produces(value: Any) -> None:
    data = packed(value)
    expected = msgpack.unpackb(data)
    for impl in (_codec_py, _codec_c):
        if impl is not None:
            got = impl.decode(data)
            assert same(got, expected)
            assert type(got) is type(expected)


def _fits_float32(value: float) -> bool:
    try:
        return same(struct.unpack(">f", struct.pack(">f", value))[0], value)
    except OverflowError:
        return False


def _any_encoding(draw: st.DrawFn, value: Any) -> bytes:
    """Encode ``value`` choosing at random among all valid (not only minimal) encodings."""
    if value is None or isinstance(value, bool):
        return packed(value)
    if isinstance(value, int):
        forms = [
            (">B", 0xCC, 0, 2**8), (">H", 0xCD, 0, 2**16), (">I", 0xCE, 0, 2**32), (">Q", 0xCF, 0, 2**64),
            (">b", 0xD0, -(2**7), 2**7), (">h", 0xD1, -(2**15), 2**15), (">i", 0xD2, -(2**31), 2**31),
            (">q", 0xD3, -(2**63), 2**63),
        ]
        fits = [f for f in forms if f[2] <= value < f[3]]
        if -32 <= value < 128:
            fits.append(None)
        form = draw(st.sampled_from(fits))
        return packed(value) if form is None else bytes([form[1]]) + struct.pack(form[0], value)
    if isinstance(value, float):
        if _fits_float32(value) and draw(st.booleans()):
            return b"\xca" + struct.pack(">f", value)
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, (str, bytes)):
        raw = value.encode() if isinstance(value, str) else value
        codes = (0xD9, 0xDA, 0xDB) if isinstance(value, str) else (0xC4, 0xC5, 0xC6)
        heads = list(zip(codes, (">B", ">H", ">I")))
        heads = [h for h in heads if len(raw) < 2 ** (8 * struct.calcsize(h[1]))]
        options: list[bytes] = [bytes([h[0]]) + struct.pack(h[1], len(raw)) for h in heads]
        if isinstance(value, str) and len(raw) < 32:
            options.append(bytes([0xA0 | len(raw)]))
        return draw(st.sampled_from(options)) + raw
    items = list(value.items()) if isinstance(value, dict) else list(value)
    n = len(items)
    small, c16, c32 = (0x80, 0xDE, 0xDF) if isinstance(value, dict) else (0x90, 0xDC, 0xDD)
    options = [bytes([c16]) + struct.pack(">H", n), bytes([c32]) + struct.pack(">I", n)]
    if n < 16:
        options.append(bytes([small | n]))
    body = b"".join(
        _any_encoding(draw, k) + _any_encoding(draw, v) for k, v in items
    ) if isinstance(value, dict) else b"".join(_any_encoding(draw, v) for v in items)
    return draw(st.sampled_from(options)) + body


@st.composite
def any_encoding(draw: st.DrawFn) -> tuple[Any, bytes]:
    value = draw(values)
    return value, _any_encoding(draw, value)


@BOTH
@given(any_encoding())
def test_decode_accepts_any_valid_encoding_not_only_the_minimal_one(case: tuple[Any, bytes]) -> None:
    value, data = case
    for impl in (_codec_py, _codec_c):
        if impl is not None:
            assert same(impl.decode(data), value)


def _outcome(impl: ModuleType, data: bytes) -> tuple[str, Any]:
    """Decode and return ("ok", re-encoded value) or ("error", message); anything else fails."""
    try:
        return "ok", packed(impl.decode(data))
    except DecodeError as exc:
        return "error", str(exc)


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    data = bytearray(packed(draw(values)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data.insert(at, draw(st.integers(0, 255)))
        elif op == "delete" and data:
            del data[at]
        elif op == "cut":
            del data[at:]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80) | mangled())
def test_decode_of_random_bytes_gives_a_value_or_decode_error_alike_in_both(data: bytes) -> None:
    python = _outcome(_codec_py, data)
    if _codec_c is not None:
        assert _outcome(_codec_c, data) == python


@BOTH
@given(values)
def test_every_truncation_of_valid_data_is_a_decode_error_naming_truncation(value: Any) -> None:
    data = packed(value)
    for cut in range(len(data)) if len(data) < 300 else range(0, len(data), len(data) // 97):
        for impl in (_codec_py, _codec_c):
            if impl is not None:
                with pytest.raises(DecodeError, match="truncated msgpack data"):
                    impl.decode(data[:cut])


# ----------------------------------------------------------------------------- decode inputs and errors

def test_decode_accepts_bytearray_and_memoryview(impl: ModuleType) -> None:
    data = packed({"a": [1, "b"]})
    assert impl.decode(bytearray(data)) == impl.decode(memoryview(data)) == {"a": [1, "b"]}
    assert impl.decode(memoryview(b"xx" + data)[2:]) == {"a": [1, "b"]}
    strided = memoryview(bytes(b for c in data for b in (c, 0)))[::2]
    assert impl.decode(strided) == {"a": [1, "b"]}


def test_decode_accepts_bytes_subclass_and_memoryview_of_wider_items(impl: ModuleType) -> None:
    data = packed([1, "two", b"3", 4.5])  # 14 bytes: a whole number of 2-byte items
    assert impl.decode(Blob(data)) == [1, "two", b"3", 4.5]
    assert impl.decode(memoryview(array.array("H", data))) == [1, "two", b"3", 4.5]


def test_decode_rejects_str_input_with_type_error(impl: ModuleType) -> None:
    with pytest.raises(TypeError, match="bytes"):
        impl.decode("\x90")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"", r"truncated msgpack data: expected a value at byte offset 0, but the data ends there"),
        (b"\x92\x01", r"expected a value at byte offset 2"),
        (b"\xa5abc", r"the str \(type byte 0xa5\) at byte offset 0 needs 6 bytes, but only 4 remain"),
        (b"\x91\xcd\x01", r"the int \(type byte 0xcd\) at byte offset 1 needs 3 bytes, but only 2 remain"),
        (b"\xc1", r"unknown type byte 0xc1 at byte offset 0"),
        (b"\x91\xd4\x01\x02", r"ext types are not supported: type byte 0xd4 at byte offset 1"),
        (b"\xc7\x01\x05\x00", r"ext types are not supported: type byte 0xc7"),
        (b"\x81\x01\x02", r"map key at byte offset 1 is int \(type byte 0x01\); only str and bin keys"),
        (b"\x81\x90\x02", r"map key at byte offset 1 is array"),
        (b"\x01\x02\x03", r"trailing data after the msgpack value: 2 extra bytes starting at byte offset 1"),
        (b"\x91\xa2\xff\xfe", r"the str at byte offset 1 is not valid UTF-8"),
        (b"\xa3\xed\xa0\x80", r"str at byte offset 0 is not valid UTF-8"),  # a surrogate
        (b"\xa2\xc0\x80", r"not valid UTF-8"),  # overlong
    ],
)
def test_decode_error_says_what_is_malformed_and_where(impl: ModuleType, data: bytes, pattern: str) -> None:
    with pytest.raises(DecodeError, match=pattern):
        impl.decode(data)


def test_decode_accepts_nesting_up_to_the_depth_limit(impl: ModuleType) -> None:
    data = b"\x91" * 511 + b"\x90"
    value = impl.decode(data)
    for _ in range(512):
        assert isinstance(value, list)
        value = value[0] if value else None


def test_decode_rejects_nesting_beyond_the_depth_limit(impl: ModuleType) -> None:
    expected = r"deeper than 512 levels: the array \(type byte 0x90\) at byte offset 512"
    with pytest.raises(DecodeError, match=expected):
        impl.decode(b"\x91" * 512 + b"\x90")
    with pytest.raises(DecodeError, match="deeper than 512 levels"):
        impl.decode(b"\x81\xa1k" * 512 + b"\xde\x00\x00")


# ----------------------------------------------------------------------------- encode errors

def test_encode_error_names_type_and_path_of_unsupported_value(impl: ModuleType) -> None:
    payload = {"items": [1, 2, 3, {"when": datetime.datetime(2024, 1, 1)}]}
    with pytest.raises(EncodeError) as info:
        impl.encode(payload)
    assert "cannot encode datetime.datetime at data['items'][3]['when']" in str(info.value)
    assert "None, bool, int, float, str, bytes" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({1, 2}, "cannot encode set at data:"),
        ([object()], "cannot encode object at data[0]:"),
        ({"a": [1.5, 2j]}, "cannot encode complex at data['a'][1]:"),
        ((1, Ellipsis), "cannot encode ellipsis at data[1]:"),
        ({"f": frozenset()}, "cannot encode frozenset at data['f']:"),
        ({"arr": array.array("b", [1])}, "cannot encode array.array at data['arr']:"),
        ([{"x": [None, collections.deque()]}], "cannot encode collections.deque at data[0]['x'][1]:"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_encode_error_names_each_unsupported_type_and_where(
    impl: ModuleType, value: Any, expected: str
) -> None:
    with pytest.raises(EncodeError) as info:
        impl.encode(value)
    assert expected in str(info.value)


def test_encode_error_names_dict_key_of_unsupported_type(impl: ModuleType) -> None:
    expected = r"cannot encode dict key 1 of type int in data\['a'\]: keys must be str or bytes"
    with pytest.raises(EncodeError, match=expected):
        impl.encode({"a": {"ok": 1, 1: 2}})
    with pytest.raises(EncodeError, match=r"dict key \(1, 2\) of type tuple in data:"):
        impl.encode({(1, 2): "x"})
    with pytest.raises(EncodeError, match="dict key <memory at .*> of type memoryview in data"):
        impl.encode({memoryview(b"k"): 1})


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30, -(10**30)])
def test_encode_error_says_int_is_outside_64_bits(impl: ModuleType, number: int) -> None:
    expected = rf"int at data\['n'\]\[1\] is outside the 64-bit range -2\*\*63 \.\. 2\*\*64-1: {number}"
    with pytest.raises(EncodeError, match=expected):
        impl.encode({"n": [0, number]})


def test_encode_error_for_huge_int_gives_its_size_not_its_digits(impl: ModuleType) -> None:
    with pytest.raises(EncodeError, match="an int of 100001 bits"):
        impl.encode(2**100000)


def test_encode_error_for_lone_surrogate_in_str(impl: ModuleType) -> None:
    expected = r"str at data\[1\] cannot be encoded as UTF-8: surrogates not allowed at index 1"
    with pytest.raises(EncodeError, match=expected):
        impl.encode(["ok", "a\udc80b"])
    with pytest.raises(EncodeError, match=r"str at key 'k\\udc80' of data cannot be encoded as UTF-8"):
        impl.encode({"k\udc80": 1})


def test_encode_error_for_non_contiguous_memoryview(impl: ModuleType) -> None:
    with pytest.raises(EncodeError, match=r"memoryview at data\[0\] is not C-contiguous"):
        impl.encode([memoryview(b"abcd")[::2]])


def _nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_encode_accepts_nesting_up_to_the_depth_limit(impl: ModuleType) -> None:
    assert impl.encode(_nested(512)) == b"\x91" * 511 + b"\x90"


def test_encode_error_for_nesting_beyond_the_depth_limit(impl: ModuleType) -> None:
    path = re.escape("data" + "[0]" * 5 + "..." + "[0]" * 5)
    with pytest.raises(EncodeError, match=rf"cannot encode {path}: containers nest deeper than 512 levels"):
        impl.encode(_nested(513))
    deep: Any = {"k": 1}
    for _ in range(600):
        deep = {"k": deep}
    with pytest.raises(EncodeError, match="deeper than 512 levels"):
        impl.encode(deep)


def test_encode_error_for_a_list_that_contains_itself(impl: ModuleType) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(EncodeError, match="deeper than 512 levels"):
        impl.encode({"loop": loop})
