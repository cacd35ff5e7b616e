"""Server-side cost of a measured window, from ``INFO`` before and after.

Works the same on the embedded server and on a user's server: nothing is reset, every
figure is a delta. Commands the suite itself runs to take the snapshots (``INFO``,
``CONFIG``, ``SLOWLOG``, ``MEMORY``) are left out of the counts and their CPU time is
taken off the CPU delta. Commands run inside Lua scripts are counted by Redis under
their own names (``cmdstat_hset``...), so "commands per job" includes them.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Snapshot", "Cost", "snapshot", "cost", "environment", "BOOKKEEPING"]

#: Command names the suite runs itself (never rediq): excluded from every count.
BOOKKEEPING = ("info", "config", "slowlog", "memory", "dbsize")
SCRIPT_COMMANDS = ("evalsha", "eval", "evalsha_ro", "eval_ro", "fcall", "fcall_ro")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One reading of the server's counters.

    Attributes:
        at: ``time.monotonic()`` when it was taken.
        calls: {command name: (calls, usec)} from INFO commandstats.
        cpu_s: used_cpu_sys + used_cpu_user, in seconds.
        used_memory: bytes, from INFO memory, less client buffers (mem_clients_normal and
            mem_clients_slaves), which swing with the size of the last request.
    """

    at: float
    calls: dict[str, tuple[int, int]]
    cpu_s: float
    used_memory: int


@dataclass(slots=True)
class Cost:
    """What a window cost the server, per job (``None``: not measured in this scenario).

    Attributes:
        jobs: jobs the window is divided by.
        seconds: length of the window.
        commands: commands run, including those run inside scripts.
        script_calls: EVALSHA (and EVAL/FCALL) calls.
        cpu_us: server CPU microseconds (sys + user), bookkeeping taken off.
        script_usec: microseconds INFO commandstats books to script calls.
        mem_per_job: used_memory change per job (waiting, or kept after completion).
        mem_kind: "waiting" or "kept": which jobs ``mem_per_job`` is about.
        by_command: {command: calls per job}, for the profile notes.
    """

    jobs: int
    seconds: float
    commands: int
    script_calls: int
    cpu_us: float
    script_usec: int
    mem_per_job: float | None = None
    mem_kind: str = ""
    by_command: dict[str, float] = field(default_factory=dict)

    def per_job(self) -> dict[str, Any]:
        """The figures shown beside throughput: per job, rounded for reading."""
        n = max(self.jobs, 1)
        return {
            "commands_per_job": round(self.commands / n, 2),
            "script_calls_per_job": round(self.script_calls / n, 3),
            "redis_cpu_us_per_job": round(self.cpu_us / n, 2),
            "script_usec_per_job": round(self.script_usec / n, 2),
            "mem_bytes_per_job": None if self.mem_per_job is None else round(self.mem_per_job, 1),
            "mem_kind": self.mem_kind,
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return {"jobs": self.jobs, "seconds": round(self.seconds, 4), "commands": self.commands,
                "script_calls": self.script_calls, "cpu_us": round(self.cpu_us, 1),
                "script_usec": self.script_usec, **self.per_job(),
                "by_command_per_job": self.by_command}


def _command_name(key: str) -> str:
    return key[len("cmdstat_"):] if key.startswith("cmdstat_") else key


def snapshot(r: Any) -> Snapshot:
    """Read commandstats, CPU and memory from the server ``r`` (a redis-py client)."""
    stats = r.info("commandstats")
    cpu = r.info("cpu")
    mem = r.info("memory")
    calls = {_command_name(k): (int(v.get("calls", 0)), int(v.get("usec", 0)))
             for k, v in stats.items() if isinstance(v, dict)}
    used = int(mem["used_memory"]) - int(mem.get("mem_clients_normal", 0)) \
        - int(mem.get("mem_clients_slaves", 0))
    return Snapshot(time.monotonic(), calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
                    used)


def _is_bookkeeping(name: str) -> bool:
    return name.split("|", 1)[0].lower() in BOOKKEEPING


def cost(before: Snapshot, after: Snapshot, jobs: int, *, memory: str = "") -> Cost:
    """Return the cost of the window between two snapshots, for ``jobs`` jobs.

    Args:
        before: the snapshot at the start of the window.
        after: the snapshot at its end.
        jobs: the number of jobs the window handled.
        memory: "waiting" or "kept" to report the used_memory change per job; "" not to.
    """
    commands = script_calls = script_usec = 0
    bookkeeping_usec = 0
    by_command: dict[str, float] = {}
    for name, (calls, usec) in after.calls.items():
        c0, u0 = before.calls.get(name, (0, 0))
        dc, du = calls - c0, usec - u0
        if dc <= 0:
            continue
        if _is_bookkeeping(name):
            bookkeeping_usec += du
            continue
        commands += dc
        by_command[name] = round(dc / max(jobs, 1), 3)
        if name in SCRIPT_COMMANDS:
            script_calls += dc
            script_usec += du
    cpu_us = max((after.cpu_s - before.cpu_s) * 1e6 - bookkeeping_usec, 0.0)
    mem = (after.used_memory - before.used_memory) / max(jobs, 1) if memory else None
    ordered = dict(sorted(by_command.items(), key=lambda kv: -kv[1]))
    return Cost(jobs, after.at - before.at, commands, script_calls, cpu_us, script_usec,
                mem, memory, ordered)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(r: Any, url: str, server_binary: str | None) -> dict[str, Any]:
    """Describe the run: versions, codec implementation, CPU, the server.

    Args:
        r: a redis-py client on the measured server.
        url: the server's URL (credentials are cut off before it is recorded).
        server_binary: the embedded server's binary, or None for a user's server.
    """
    import rediq
    from rediq import codec

    info = r.info("server")
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    safe_url = url.split("@", 1)[-1] if "@" in url else url
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        load = None
    return {
        "rediq_version": rediq.__version__,
        "codec_implementation": codec.IMPLEMENTATION,
        "codec_c_unavailable_reason": codec.C_UNAVAILABLE_REASON,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "redis_version": str(info.get("redis_version", "?")),
        "server_name": str(info.get("server_name", "redis")),
        "valkey_version": info.get("valkey_version"),
        "redis_mode": info.get("redis_mode"),
        "server": "embedded" if server_binary else "user",
        "server_binary": server_binary,
        "url": safe_url,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "platform": platform.platform(),
        "load_average_1m_at_start": load,
    }
