"""Test helpers: wait on conditions with deadlines (never sleep-and-hope)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition",
               interval: float = 0.01) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def lua_build() -> ModuleType:
    """``lua/build.py`` (the stdlib-only flattener) as a module, for its helpers."""
    path = Path(__file__).resolve().parents[1] / "lua" / "build.py"
    spec = importlib.util.spec_from_file_location("rediq_lua_build", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
