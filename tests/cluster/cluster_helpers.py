"""Helpers of the Redis Cluster suite: where a queue lives, queues placed on chosen shards,
in-process workers on threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import rediq


def node_of(client: rediq.Client, queue: str) -> int:
    """The port of the master serving ``queue``'s slot (the cluster's current view)."""
    return int(client.redis.get_node_from_key(client.queue(queue).keys.meta).port)


def slot_of(client: rediq.Client, queue: str) -> int:
    return int(client.redis.keyslot(client.queue(queue).keys.meta))


def masters(client: rediq.Client) -> list[int]:
    """Ports of the cluster's masters, sorted."""
    return sorted(int(n.port) for n in client.redis.get_primaries())


def queues_on_shards(client: rediq.Client, per_shard: list[int], stem: str = "q") -> list[str]:
    """Queue names, ``per_shard[i]`` of them on the i-th master (by port), ordered shard by
    shard: ``[1, 1, 1]`` gives one queue on each of three shards."""
    ports = masters(client)
    assert len(per_shard) <= len(ports)
    want = {p: n for p, n in zip(ports, per_shard)}
    found: dict[int, list[str]] = {p: [] for p in ports}
    i = 0
    while any(len(found[p]) < n for p, n in want.items()):
        name = f"{stem}{i}"
        port = node_of(client, name)
        if len(found[port]) < want.get(port, 0):
            found[port].append(name)
        i += 1
    return [name for p in ports for name in found[p]]


class ThreadWorkers:
    """Run :class:`rediq.Worker` instances on threads (each on its own client of ``url``);
    :meth:`stop_all` stops them at teardown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.running: list[tuple[rediq.Worker, threading.Thread, rediq.Client]] = []
        self.errors: list[BaseException] = []

    def start(self, handlers: dict[str, Callable[..., Any]],
              queues: dict[str, rediq.QueueConfig] | list[str], *, client_name: str | None = None,
              **kwargs: Any) -> rediq.Worker:
        """Build a worker on its own client (connections named ``client_name``), run it on a thread."""
        client = rediq.Client.from_url(self.url, **({"client_name": client_name} if client_name else {}))
        worker = rediq.Worker(client, handlers, queues, **kwargs)

        def run() -> None:
            try:
                worker.run()
            except BaseException as exc:  # noqa: BLE001 - reported at teardown
                self.errors.append(exc)

        thread = threading.Thread(target=run, name="test-worker", daemon=True)
        thread.start()
        self.running.append((worker, thread, client))
        return worker

    def stop_all(self) -> list[str]:
        stuck = []
        for worker, _, _ in self.running:
            worker.stop(grace=0.0)
        for worker, thread, client in self.running:
            thread.join(15)
            if thread.is_alive():
                stuck.append(worker.id)
            client.close()
        return stuck
