"""native/rediq_codec.c under AddressSanitizer and UndefinedBehaviorSanitizer.

A small C driver (written below) runs both transcoders over a corpus of valid, truncated,
mutated and random inputs, each copied into a buffer of exactly its size and writing into
an output buffer of exactly the capacity it claims, so any read or write out of bounds,
any use of freed scratch memory and any undefined behaviour aborts the driver. Skipped,
with the reason, when no C compiler with sanitizer support is available.
"""

from __future__ import annotations

import marshal
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import msgpack
import pytest

NATIVE = Path(__file__).resolve().parents[2] / "native"
DECODE, ENCODE, RANDOM = 0, 1, 2

DRIVER = r"""
#include "rediq_codec.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed = 0x2545F4914F6CDD1DULL;
static uint32_t next(void) { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return (uint32_t)seed; }

/* Run one transcoder on an exact-size copy of src[0..n) into an exact-size dst of cap bytes. */
static int run(int encode, const unsigned char *src, size_t n, size_t cap) {
    char *in = malloc(n ? n : 1), *out = malloc(cap ? cap : 1);
    rediq_call call;
    int st;
    if (!in || !out) abort();
    memcpy(in, src, n);
    memset(&call, 0, sizeof call);
    call.dst = out;
    call.dst_cap = cap;
    call.max_depth = 512;
    st = encode ? rediq_marshal_to_msgpack(in, n, &call) : rediq_msgpack_to_marshal(in, n, &call);
    if (st == REDIQ_OK && call.length > cap) { fprintf(stderr, "length past capacity\n"); abort(); }
    free(in);
    free(out);
    return st;
}

static void hammer(int encode, const unsigned char *src, size_t n) {
    unsigned char *m = malloc(n + 8);
    size_t cut, i, step = n > 400 ? n / 200 : 1;
    int k;
    size_t caps[4];
    caps[0] = 0; caps[1] = n / 2; caps[2] = n; caps[3] = rediq_decode_bound(n) + 4 * n;
    for (i = 0; i < 4; i++) run(encode, src, n, caps[i]);
    for (cut = 0; cut < n; cut += step) run(encode, src, cut, rediq_decode_bound(cut) + 4 * cut);
    for (k = 0; k < 150; k++) {
        size_t len = n;
        memcpy(m, src, n);
        for (i = 0; i < 1 + next() % 4; i++) {
            uint32_t r = next();
            if (len == 0 || r % 3 == 0) { if (len < n + 8) m[len++] = (unsigned char)(r >> 8); }
            else if (r % 3 == 1) m[(r >> 8) % len] = (unsigned char)(r >> 16);
            else len = (r >> 8) % len;
        }
        run(encode, m, len, rediq_decode_bound(len) + 4 * len);
        run(encode, m, len, len); /* often too small: REDIQ_ERR_OUTPUT paths */
    }
    free(m);
}
"""


def _driver_source() -> str:
    return DRIVER + r"""
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb");
    unsigned char head[5];
    size_t count = 0, valid_ok = 0, valid = 0;
    if (!f) return 2;
    while (fread(head, 1, 5, f) == 5) {
        size_t n = (size_t)head[1] | ((size_t)head[2] << 8) | ((size_t)head[3] << 16) | ((size_t)head[4] << 24);
        unsigned char *buf = malloc(n ? n : 1);
        if (!buf || fread(buf, 1, n, f) != n) return 3;
        if (head[0] == 2) {
            run(0, buf, n, rediq_decode_bound(n));
            run(1, buf, n, 4 * n + 64);
        } else {
            valid++;
            if (run(head[0], buf, n, rediq_decode_bound(n) + 64 * n + 64) == REDIQ_OK) valid_ok++;
            hammer(head[0], buf, n);
        }
        free(buf);
        count++;
    }
    fclose(f);
    printf("inputs=%zu valid=%zu valid_ok=%zu\n", count, valid, valid_ok);
    return 0;
}
"""


# Inputs the transcoders must refuse: truncated headers, too deep; marshal types msgpack lacks.
REFUSED_MSGPACK = (b"\xdd\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff", b"\x91" * 600)
REFUSED_VALUES = ({1, 2}, 2**80, 1j, {1: 2}, "a\udc80")


def _values() -> list[Any]:
    rng = random.Random(1234)
    shared = ["shared"] * 3
    out: list[Any] = [
        None, True, 0, -1, 2**64 - 1, -(2**63), 2**31, 1.5, float("nan"), "", "ascii", "ünï", "\U0001f600" * 9,
        b"", b"\x00" * 300, [], {}, [[[[[]]]]], {"a": {"b": {"c": [1, 2, 3]}}}, list(range(70)),
        {f"k{i}": i for i in range(40)}, [{"sku": "x", "qty": 1}] * 20, {"s": shared, "t": shared},
        "x" * 70000, [b"y" * 300] * 3, {"deep": [[[[{"k": [None] * 17}]]]]},
    ]
    for _ in range(40):
        out.append({
            "id": rng.randrange(2**64), "name": "".join(rng.choices("abcé日", k=rng.randrange(40))),
            "n": [rng.randrange(-(2**40), 2**40) for _ in range(rng.randrange(20))],
            "f": rng.random(), "b": rng.randbytes(rng.randrange(50)),
        })
    return out


def _corpus(path: Path) -> int:
    rng = random.Random(99)
    entries: list[tuple[int, bytes]] = []
    for value in _values():
        entries.append((DECODE, msgpack.packb(value)))
        entries.append((ENCODE, marshal.dumps(value, 4)))
    # Non-minimal and odd encodings, and marshal types the encoder must refuse.
    entries += [(DECODE, b"\xdf\x00\x00\x00\x01\xd9\x01k\xcf" + b"\x00" * 8), (DECODE, b"\xca\x7f\x80\x00\x00"),
                (DECODE, b"\xde\x00\x01\xc4\x01k\xc0"), (ENCODE, marshal.dumps((1,) * 300, 4))]
    entries += [(DECODE, REFUSED_MSGPACK[0]), (DECODE, REFUSED_MSGPACK[1]), (DECODE, REFUSED_MSGPACK[2])]
    entries += [(ENCODE, marshal.dumps(v, 4)) for v in REFUSED_VALUES]
    entries += [(RANDOM, rng.randbytes(rng.randrange(1, 200))) for _ in range(300)]
    with path.open("wb") as fh:
        for kind, data in entries:
            fh.write(struct.pack("<BI", kind, len(data)) + data)
    return len(entries)


def _compiler() -> str | None:
    return shutil.which("gcc") or shutil.which("clang") or shutil.which("cc")


@pytest.mark.timeout(120)
def test_c_codec_survives_malformed_input_under_asan_and_ubsan(tmp_path: Path) -> None:
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler (gcc, clang or cc) on PATH")
    driver = tmp_path / "driver.c"
    driver.write_text(_driver_source())
    exe = tmp_path / "driver"
    build = subprocess.run(
        [cc, "-std=c99", "-g", "-O1", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", f"-I{NATIVE}", str(driver), str(NATIVE / "rediq_codec.c"), "-o", str(exe)],
        capture_output=True, text=True,
    )
    if build.returncode != 0:
        if "sanitize" in build.stderr or "asan" in build.stderr.lower():
            pytest.skip(f"{cc} cannot build with -fsanitize=address,undefined: {build.stderr.strip()[-300:]}")
        pytest.fail(f"driver did not compile:\n{build.stderr}")
    corpus = tmp_path / "corpus.bin"
    total = _corpus(corpus)
    run = subprocess.run([str(exe), str(corpus)], capture_output=True, text=True, timeout=100,
                         env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "print_stacktrace=1"})
    assert run.returncode == 0, f"sanitizer report:\n{run.stderr[-4000:]}"
    counts = dict(item.split("=") for item in run.stdout.split())
    assert int(counts["inputs"]) == total
    refused = len(REFUSED_MSGPACK) + len(REFUSED_VALUES)
    assert int(counts["valid_ok"]) == int(counts["valid"]) - refused
