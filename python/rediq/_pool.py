"""A minimal pool of daemon threads for sync handlers.

Daemon threads, so a handler that never returns cannot keep the process alive after
the worker has handed its job back (unlike ``ThreadPoolExecutor``, which joins at exit).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

__all__ = ["ThreadPool"]


class ThreadPool:
    """Run submitted callables on up to ``size`` daemon threads, started on demand."""

    def __init__(self, size: int, name: str = "rediq-handler") -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._size = size
        self._name = name
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; start a thread if none is idle and the pool is not full."""
        with self._lock:
            if self._idle == 0 and len(self._threads) < self._size:
                t = threading.Thread(target=self._loop, name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()
            else:
                self._idle -= 1
        self._tasks.put((fn, args))

    def _loop(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            fn, args = task
            fn(*args)
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Ask idle threads to exit (busy ones exit after their task)."""
        for _ in self._threads:
            self._tasks.put(None)
