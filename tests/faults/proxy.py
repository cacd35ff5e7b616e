"""A small TCP proxy in front of Redis that a test can cut, stall, or heal.

Modes:
* ``up``: bytes flow both ways.
* ``blackhole``: a network partition. Existing and new connections stay open but every
  byte is swallowed (no reply, no error): a client waits on its socket.
* ``refuse``: the server host is gone. Existing connections are closed and every new
  connection is closed as soon as it is accepted.
:meth:`heal` closes every connection opened before it (as the healed network would
answer a stale TCP connection with a reset) and forwards again.
``accepted`` counts connection attempts, to show that clients do not busy-loop.
"""

from __future__ import annotations

import socket
import threading

from rediq._server import free_port

__all__ = ["Proxy"]


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "up"
        self.accepted = 0
        self.cut_next_reply_containing: bytes | None = None
        self._lock = threading.Lock()
        self._conns: list[tuple[socket.socket, socket.socket | None]] = []
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self._closed = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                mode = self.mode
            if mode == "refuse":
                client.close()
                continue
            upstream = None
            if mode == "up":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    client.close()
                    continue
            with self._lock:
                self._conns.append((client, upstream))
            cut = {"armed": threading.Event(), "replied": threading.Event()}
            threading.Thread(target=self._pump, args=(client, upstream, True, cut), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(upstream, client, False, cut), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket | None, from_client: bool,
              cut: dict[str, threading.Event]) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.mode != "up" or dst is None:
                    continue  # swallowed
                if not from_client and cut["armed"].is_set():
                    cut["replied"].set()  # the server ran the request: swallow its reply
                    break
                if from_client and self.cut_next_reply_containing is not None \
                        and self.cut_next_reply_containing in data:
                    # deliver the request, then cut the connection before the reply
                    self.cut_next_reply_containing = None
                    cut["armed"].set()
                    dst.sendall(data)
                    cut["replied"].wait(5)
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src, dst)

    def _drop(self, a: socket.socket, b: socket.socket | None) -> None:
        for s in (a, b):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def _close_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for client, upstream in conns:
            self._drop(client, upstream)

    def blackhole(self) -> None:
        self.mode = "blackhole"

    def refuse(self) -> None:
        self.mode = "refuse"
        self._close_all()

    def heal(self) -> None:
        self._close_all()
        self.mode = "up"

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._close_all()
