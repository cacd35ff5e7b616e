"""``rediq status`` on a cluster URL sees the queues of every node; malformed cluster and
sentinel URLs get a clear error naming the problem."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import rediq
from cluster_helpers import node_of, queues_on_shards
from rediq._connect import parse_url
from scale_procs import PYTHON_DIR


def test_status_on_a_cluster_url_lists_the_queues_of_every_node(client, cluster):
    names = queues_on_shards(client, [2, 2, 2], stem="st")
    assert len({node_of(client, n) for n in names}) == 3
    for i, n in enumerate(names):
        client.queue(n).enqueue_many([("work", j) for j in range(i + 1)])
    client.queue(names[0]).pause()
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    out = subprocess.run([sys.executable, "-m", "rediq.cli", "status", "--url", cluster.url],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted(names), out.stdout
    for i, n in enumerate(names):
        assert rows[n][1] == str(i + 1)             # waiting
        assert rows[n][-1] == ("yes" if i == 0 else "no")

    one = subprocess.run([sys.executable, "-m", "rediq.cli", "status", names[3], "--url", cluster.url],
                         capture_output=True, text=True, timeout=60, env=env)
    assert one.returncode == 0 and one.stdout.splitlines()[1].split()[:2] == [names[3], "4"], one.stdout


@pytest.mark.parametrize("url, message", [
    ("redis+cluster://127.0.0.1:7000/0", "has no database or path (got /0)"),
    ("redis+cluster://127.0.0.1:7000,127.0.0.1:7001/2", "has no database or path (got /2)"),
    ("redis+cluster://127.0.0.1", "expected host:port, got '127.0.0.1'"),
    ("redis+sentinel://127.0.0.1:26379", "needs the service name as its path"),
    ("redis+sentinel://127.0.0.1:26379/", "needs the service name as its path"),
    ("redis+sentinel://127.0.0.1:26379,127.0.0.1:x/mymaster", "expected host:port, got '127.0.0.1:x'"),
])
def test_malformed_cluster_and_sentinel_urls_get_a_clear_error(url, message):
    for build in (rediq.Client.from_url, rediq.AsyncClient.from_url):
        with pytest.raises(ValueError) as err:
            build(url)
        assert message in str(err.value) and url in str(err.value)


def test_well_formed_urls_parse_into_their_parts():
    p = parse_url("rediss+sentinel://u:p%40ss@h1:1,[::1]:2/my-master?db=3&sentinel_password=sp&socket_timeout=2")
    assert (p.kind, p.tls, p.hosts, p.username, p.password, p.service, p.db, p.sentinel_password,
            p.options) == ("sentinel", True, [("h1", 1), ("::1", 2)], "u", "p@ss", "my-master", 3, "sp",
                           {"socket_timeout": "2"})
    c = parse_url("redis+cluster://h1:1,h2:2?socket_timeout=1")
    assert (c.kind, c.tls, c.hosts, c.service, c.options) == ("cluster", False, [("h1", 1), ("h2", 2)],
                                                              None, {"socket_timeout": "1"})
    assert parse_url("redis://localhost:6379/0") is None
