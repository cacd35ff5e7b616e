"""Fixtures of the fault suite: a throwaway server per test (faults may kill it) and a
fleet of worker processes that is always killed and reaped, even when a test fails."""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest

import rediq
from rediq._server import EmbeddedServer

from .harness import Fleet


@pytest.fixture
def fault_server() -> Iterator[EmbeddedServer]:
    """A private TCP server with AOF (appendfsync always), so a test may kill it."""
    s = EmbeddedServer(tcp=True, appendonly=True).start()
    yield s
    s.stop()


@pytest.fixture
def fclient(fault_server: EmbeddedServer) -> Iterator[rediq.Client]:
    c = rediq.Client.from_url(fault_server.url)
    yield c
    c.close()


@pytest.fixture
def fleet(fault_server: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    f = Fleet(fault_server.url)
    yield f
    f.cleanup()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"worker logs and execution records kept in {f.dir}\n{f.logs()}")
    else:
        shutil.rmtree(f.dir, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
