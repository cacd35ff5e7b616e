"""Fixtures of the asyncio suite (the shared ones, ``server``, ``r``, ``client``, live in
``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aio_helpers import Api


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest, server: Any, r: Any) -> Iterator[Api]:
    """The client under test, the sync ``Client`` or the ``AsyncClient``, on a flushed server."""
    a = Api(request.param, server.url)
    yield a
    a.close()
