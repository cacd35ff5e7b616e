"""Real local deployments for scale-out tests: a 3-master Redis Cluster and a Sentinel
setup (one master, one replica, sentinels), each on free ports of 127.0.0.1."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import redis

from rediq._server import EmbeddedServer, free_port

__all__ = ["Cluster", "LinkRelay", "SentinelSetup"]


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def cluster_port() -> int:
    """A free port p <= 55535 whose cluster bus port p + 10000 is free too."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


class Cluster:
    """A Redis Cluster of ``masters`` masters (no replicas) built with redis-cli."""

    def __init__(self, masters: int = 3, binary: str | None = None) -> None:
        self.nodes = [EmbeddedServer(binary, tcp=True, args=(
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "2000")) for _ in range(masters)]
        for node in self.nodes:
            node.port = cluster_port()

    @property
    def url(self) -> str:
        """The rediq URL of the cluster (every node as a startup node)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        cli = [str(Path(self.nodes[0].binary).with_name("redis-cli"))]
        if not Path(cli[0]).exists():
            cli = ["redis-cli"]
        subprocess.run(cli + ["--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                              "--cluster-yes"], check=True, capture_output=True, timeout=60)
        for node in self.nodes:
            conn = redis.Redis(port=node.port)
            _wait(lambda c=conn: b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO"),
                  30, f"cluster state ok on port {node.port}")
            conn.close()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class LinkRelay:
    """A TCP relay on 127.0.0.1 for a replication link, so a test can stall the link as a
    network blip would: after :meth:`hold`, what the master sends is read and dropped
    (the master counts it as sent; the replica never gets it, and its acknowledgements,
    which still flow, stop advancing). The link ends when the master does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = int(self._listener.getsockname()[1])
        self._held = threading.Event()
        self._closed = False
        self.dropped = 0
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, name="link-relay", daemon=True).start()

    def hold(self) -> None:
        """Stop passing the master's stream on (drop it) until :meth:`release`."""
        self._held.set()

    def release(self) -> None:
        self._held.clear()

    def _accept(self) -> None:
        while not self._closed:
            try:
                down, _ = self._listener.accept()
                up = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                up.settimeout(None)
            except OSError:
                if self._closed:
                    return
                continue
            self._socks += [down, up]
            threading.Thread(target=self._pump, args=(up, down, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(down, up, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_master: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_master and self._held.is_set():
                    self.dropped += len(data)
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for sock in self._socks:
            try:
                sock.close()
            except OSError:
                pass


class SentinelSetup:
    """One master, one replica and ``sentinels`` sentinels watching service ``rediq-master``."""

    service = "rediq-master"

    def __init__(self, sentinels: int = 1, binary: str | None = None, relay: bool = False) -> None:
        self.master = EmbeddedServer(binary, tcp=True)
        # relay: the replica replicates through a LinkRelay the test can stall (``self.relay``)
        self.relay = LinkRelay(self.master.port) if relay else None
        self.replica = EmbeddedServer(binary, tcp=True, args=(
            "--replicaof", "127.0.0.1", str(self.relay.port if self.relay else self.master.port)))
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels: list[EmbeddedServer] = []
        self.quorum = sentinels // 2 + 1

    @property
    def url(self) -> str:
        """The rediq URL (every sentinel listed)."""
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self) -> SentinelSetup:
        self.master.start()
        self.replica.start()
        conn = redis.Redis(port=self.replica.port)
        _wait(lambda: conn.info("replication").get("master_link_status") == "up", 30, "replica link up")
        conn.close()
        for port in self.sentinel_ports:
            s = EmbeddedServer(self.master.binary, tcp=True)
            s.port = port
            conf = s.dir / "sentinel.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {s.dir}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} {self.quorum}\n"
                f"sentinel down-after-milliseconds {self.service} 1000\n"
                # behind a relay the replica reports another master address than the
                # sentinels know; they "fix" that only after failover-timeout: keep it long
                f"sentinel failover-timeout {self.service} {60000 if self.relay else 5000}\n"
                f"sentinel parallel-syncs {self.service} 1\n")
            s.extra = (str(conf), "--sentinel")
            self._start_sentinel(s, conf)
            self.sentinels.append(s)
        return self

    def _start_sentinel(self, s: EmbeddedServer, conf: Path) -> None:
        s.proc = subprocess.Popen([s.binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        conn = redis.Redis(port=s.port)
        _wait(lambda: conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service),
              30, f"sentinel on port {s.port}")
        conn.close()

    def reported_master(self) -> set[int]:
        """The master port each sentinel that answers reports for the service."""
        ports = set()
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=1) as conn:
                    addr = conn.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
                ports.add(int(addr[1]))
            except (redis.RedisError, TypeError):
                pass
        return ports

    def kill_master(self) -> float:
        """SIGKILL the master (no shutdown, no last sync); return ``time.time()`` just before."""
        t = time.time()
        self.master.kill(signal.SIGKILL)
        return t

    def wait_promoted(self, timeout: float = 30.0) -> float:
        """Wait until every sentinel reports the replica as the master; then ``master`` is
        the promoted server and ``replica`` the dead one. Returns ``time.time()`` then."""
        new = self.replica.port
        _wait(lambda: self.reported_master() == {new}, timeout, f"sentinels to promote :{new}")
        _wait(lambda: redis.Redis(port=new).info("replication")["role"] == "master", timeout,
              f":{new} to act as master")
        self.master, self.replica = self.replica, self.master
        return time.time()

    def rejoin_replica(self, timeout: float = 30.0) -> None:
        """Start the dead former master again, empty, as a replica of the current master,
        and wait until the master counts it as an online replica."""
        self.replica.extra = ("--replicaof", "127.0.0.1", str(self.master.port))
        self.replica.start()
        conn = redis.Redis(port=self.master.port)

        def online() -> bool:
            info = conn.info("replication")
            return any(isinstance(v, dict) and v.get("port") == self.replica.port and v.get("state") == "online"
                       for k, v in info.items() if k.startswith("slave"))

        try:
            _wait(online, timeout, f"replica :{self.replica.port} online")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; master :{self.master.port} log: {self.master.log_tail(15)}; "
                               f"replica :{self.replica.port} log: {self.replica.log_tail(15)}") from None
        finally:
            conn.close()

    def stop(self) -> None:
        for s in self.sentinels:
            s.stop()
        self.replica.stop()
        self.master.stop()
        if self.relay is not None:
            self.relay.close()

    def __enter__(self) -> SentinelSetup:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
