"""The dequeue loop with each codec, and the claim reply as RESP arrays or one packed buffer.

Both run against the measured server through the sans-I/O calls, with no worker threads,
so the client CPU time (``time.process_time``) of the loop is the loop's alone:

- ``loop``: ``jobs`` jobs whose ~1 KB payload was encoded by one codec are claimed in
  batches of ``batch`` (claim-7), each payload is decoded and a small result encoded by
  that codec, and the batch is completed (complete-8). Per job: client CPU, Redis CPU.
  Codecs: rediq's C codec, its pure-Python fallback, ``msgpack`` (C) and ``json``.
- ``reply``: the same claims with the real claim-7, whose reply is RESP arrays that
  hiredis parses, against a variant whose last line returns ``cmsgpack.pack`` of the
  same reply (one bulk string), decoded by rediq's codec in one call. Per job: client
  CPU of turning the reply into job records, and Redis CPU of the script call.
"""

from __future__ import annotations

import time
from typing import Any

from rediq import commands as C
from rediq._scripts import SCRIPTS

from .codec_bench import Codec, codecs, payload
from .runner import Bench, Result
from .serverstats import cost

__all__ = ["loop", "reply_shape", "PACKED_SOURCE"]

def _fill(b: Bench, name: str, n: int, data: bytes) -> Any:
    q = b.client.queue(b.queue_name(name))
    for start in range(0, n, 1000):
        specs = [C.JobSpec(f"j{i}", "noop", data, 0, 1, "", 0, 0) for i in range(start, min(n, start + 1000))]
        b.client.run(C.build_enqueue(q.keys, specs))
    return q


def loop(b: Bench, n: int, batch: int) -> list[Result]:
    """Claim, decode, encode a result and complete ``n`` jobs per codec."""
    rows = []
    value = payload(1024)
    found: dict[str, Codec] = codecs()
    for name, (enc, dec) in found.items():
        q = _fill(b, f"loop-{name}", n, enc(value))
        b.progress.start(f"dequeue loop, {name}", n)
        before, cpu, t = b.snapshot(), time.process_time(), time.perf_counter()
        done = 0
        while done < n:
            claimed = C.parse_claim(b.client.run(C.build_claim(q.keys, batch, f"t{done}", 60_000))).jobs
            if not claimed:
                break
            finished = [(j.id, f"t{done}", enc({"ok": dec(j.data)["user_id"]})) for j in claimed]
            b.client.run(C.build_complete(q.keys, finished, 0, "-", 60_000))
            done += len(claimed)
            b.progress.update(len(claimed))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - t
        c = cost(before, b.snapshot(), done)
        rows.append(Result("codec", f"dequeue loop, {name}", done, done / wall,
                           {"client_cpu_us_per_job": round(cpu / done * 1e6, 2), "batch": batch},
                           c, notes=["claim-7 + decode + encode + complete-8, one client, no threads"]))
    return rows


#: claim-7 with its reply packed by the server into one MessagePack string.
PACKED_SOURCE = SCRIPTS["claim-7"].source.replace(
    "return claim_jobs(k, queue_base(KEYS[1]), m, now, max, ARGV[3], lease)",
    "return cmsgpack.pack(claim_jobs(k, queue_base(KEYS[1]), m, now, max, ARGV[3], lease))")


def _records(reply: list[Any]) -> list[C.Claimed]:
    """Job records from a packed reply decoded with raw strings (cmsgpack cannot mark
    binary data as bin, so payload bytes arrive as raw str)."""
    return [C.Claimed(reply[i].decode(), reply[i + 1].decode(), reply[i + 2], int(reply[i + 3]),
                      int(reply[i + 4])) for i in range(2, len(reply), 5)]


def reply_shape(b: Bench, n: int, batch: int) -> list[Result]:
    """Claim ``n`` jobs in batches of ``batch`` with RESP replies, then with packed ones.

    The packed reply is decoded by ``msgpack.unpackb(raw=True)`` in one C call: rediq's
    codec is strict about UTF-8 in str, and cmsgpack packs every Lua string, binary
    payloads included, as str.
    """
    import msgpack  # type: ignore[import-untyped, unused-ignore]

    from rediq import codec

    if PACKED_SOURCE == SCRIPTS["claim-7"].source:
        raise RuntimeError("claim-7 changed: the packed variant could not be derived")
    data = codec.encode(payload(1024))
    r = b.client.redis
    shas = {"resp": SCRIPTS["claim-7"].sha, "packed": r.script_load(PACKED_SOURCE)}
    unpack = msgpack.unpackb
    rows = []
    for shape, sha in shas.items():
        q = _fill(b, f"reply-{shape}", n, data)
        call = C.build_claim(q.keys, batch, "t", 60_000)
        args = (sha, 7, *call.keys, *call.args)
        b.progress.start(f"claim replies, {shape}", n)
        before, cpu, got = b.snapshot(), 0.0, 0
        t = time.perf_counter()
        while got < n:
            c0 = time.process_time()
            if shape == "resp":   # hiredis parses the arrays inside the call
                jobs = C.parse_claim(r.evalsha(*args)).jobs
            else:
                jobs = _records(unpack(r.evalsha(*args), raw=True))
            cpu += time.process_time() - c0
            if not jobs:
                break
            got += len(jobs)
            b.progress.update(len(jobs))
        wall = time.perf_counter() - t
        rows.append(Result("codec", f"claim reply, {shape}", got, got / wall,
                           {"batch": batch, "client_cpu_us_per_job": round(cpu / max(got, 1) * 1e6, 3)},
                           cost(before, b.snapshot(), got),
                           notes=["client CPU: the claim call and its reply turned into job records"]))
    return rows


