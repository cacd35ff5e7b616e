"""Build hooks that pyproject.toml cannot express.

- The flattened Lua scripts in ``lua/dist`` are copied into the package (``rediq/lua``),
  so an installed wheel carries them.
- The C codec is built with cffi (out-of-line API mode). It is optional: when no compiler
  is available the build logs a warning and the package falls back to pure Python.
"""

import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithLua(build_py):
    """Copy lua/dist/*.lua into the built package as rediq/lua/."""

    def run(self) -> None:
        super().run()
        src = os.path.join(HERE, "lua", "dist")
        dst = os.path.join(self.build_lib, "rediq", "lua")
        os.makedirs(dst, exist_ok=True)
        for name in sorted(os.listdir(src)):
            if name.endswith(".lua"):
                shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))


class OptionalBuildExt(build_ext):
    """Build the C codec if possible; never fail the install because of it."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure means "no codec"
            print(f"rediq: C codec not built ({exc}); using the pure-Python codec", file=sys.stderr)

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"rediq: C codec not built ({exc}); using the pure-Python codec", file=sys.stderr)


cffi_modules = []
if os.environ.get("REDIQ_NO_EXTENSION") != "1" and os.path.exists(os.path.join(HERE, "native", "build_codec.py")):
    cffi_modules = ["native/build_codec.py:ffibuilder"]

setup(
    cmdclass={"build_py": BuildPyWithLua, "build_ext": OptionalBuildExt},
    cffi_modules=cffi_modules,
)
