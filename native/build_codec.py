"""cffi build script for rediq's C codec (out-of-line API mode).

setup.py names it in ``cffi_modules`` (``native/build_codec.py:ffibuilder``); it can also
be run directly (``python native/build_codec.py``) to compile the extension into the
current directory. The declarations come from ``rediq_codec.h`` itself (the text between
its cdef markers), so the header stays the single contract.
"""

from __future__ import annotations

import os
import sys

from cffi import FFI  # type: ignore[import-untyped, unused-ignore]

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "rediq_codec.h")
SOURCE = os.path.join(HERE, "rediq_codec.c")
BEGIN = "/* --- cffi cdef begin --- */"
END = "/* --- cffi cdef end --- */"


def _relative(path: str) -> str:
    """Return ``path`` relative to the working directory when possible.

    setuptools prefers relative source paths (they keep object files inside build/);
    a path on another drive (Windows) stays absolute.
    """
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def read_cdef(header: str = HEADER) -> str:
    """Return the declarations between the cdef markers of the header.

    Raises:
        RuntimeError: The header lacks the markers.
    """
    with open(header, encoding="utf-8") as fh:
        text = fh.read()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise RuntimeError(f"{header}: cdef markers not found")
    return text[start + len(BEGIN) : end]


_compile_args = [] if sys.platform == "win32" else ["-std=c99"]

ffibuilder = FFI()
ffibuilder.cdef(read_cdef())
ffibuilder.set_source(
    "rediq._rediq_codec",
    '#include "rediq_codec.h"',
    sources=[_relative(SOURCE)],
    include_dirs=[_relative(HERE)],
    depends=[_relative(HEADER)],
    extra_compile_args=_compile_args,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
