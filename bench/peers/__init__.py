"""``rediq bench --peers``: the same scenarios run through other Python queues on Redis.

One module per peer (``rq_peer``, ``dramatiq_peer``, ...) holds its adapter: how to
enqueue one job and a batch, the command that starts its workers, the delivery guarantee
it gives by default. :mod:`.run` runs them the way the suite runs rediq; :mod:`.driver` is
the enqueueing process; :mod:`.base` holds the interface and the completion FIFO.

This package imports no peer library itself: every peer runs in processes of its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Peer

__all__ = ["PEERS", "load"]

#: Every peer ``--peers`` knows, in the order the issue names them.
PEERS = ("rq", "arq", "saq", "dramatiq", "huey", "taskiq", "celery", "bullmq")


def load(name: str) -> type[Peer]:
    """The adapter class of the peer ``name`` (its module imports no peer library)."""
    if name not in PEERS:
        raise KeyError(name)
    module = importlib.import_module(f"{__name__}.{name}_peer")
    return module.Adapter  # type: ignore[no-any-return]
