"""Claims whose reply was lost: find the jobs they leased and hand them back (sans-I/O).

redis-py repeats a command after a connection error. For a call that claims jobs
(``claim-7``, or ``complete-8`` with ``max > 0``) the first run may have leased jobs on
the server before the connection dropped, and the repeat leases others: the first
run's jobs would stay active under a token no worker runs until their lease expired,
and then be charged a stall they never had. After such a repeated call the clients run
``leased-1`` for the call's token and ``release-5`` (started '0': no stall, the attempt
the claim counted is taken back) for every job the reply did not bring. The calls are
built here; :class:`rediq.Client` and :class:`rediq.AsyncClient` only run them.
"""

from __future__ import annotations

from typing import Any, Callable

from .commands import (Call, ClaimResult, build_leased, build_release, parse_claim, parse_complete,
                       parse_ids)
from .keys import QueueKeys

__all__ = ["lease_token", "build_leased_for", "build_release_of_lost", "LEASED_LIMIT",
           "RELEASED", "NOT_FOUND"]

LEASED_LIMIT = 10_000   # live leases leased-1 looks at, at most
#: What the clients log (the released count; the error when the look-up failed).
RELEASED = "rediq: a claim's reply was lost on the way; handed back the %d job(s) it had leased"
NOT_FOUND = ("rediq: could not look for jobs a lost claim reply leased (%s); "
             "stall recovery will hand them back")

_CLAIM_REPLY: dict[str, Callable[[Any], ClaimResult]] = {
    "claim-7": parse_claim,
    "complete-8": lambda reply: parse_complete(reply)[1],
}


def lease_token(call: Call) -> str | None:
    """The lease token of a call that claims jobs; None for any other call."""
    if call.script in _CLAIM_REPLY and int(call.args[1]) > 0:
        return str(call.args[2])
    return None


def _queue_and_clock(call: Call) -> tuple[QueueKeys, int | None]:
    return QueueKeys.of_key(call.keys[0]), int(call.args[0]) if call.args[0] != "" else None


def build_leased_for(call: Call) -> Call:
    """The ``leased-1`` call listing the live leases under ``call``'s token."""
    k, now = _queue_and_clock(call)
    return build_leased(k, str(lease_token(call)), LEASED_LIMIT, now)


def build_release_of_lost(call: Call, reply: Any, leased_reply: Any) -> tuple[Call, int] | None:
    """The ``release-5`` call handing back what ``call``'s token leased beyond ``reply``,
    and how many jobs it hands back.

    Returns None when the reply brought every job leased under the token.
    """
    got = {job.id for job in _CLAIM_REPLY[call.script](reply).jobs}
    lost = [job_id for job_id in parse_ids(leased_reply) if job_id not in got]
    if not lost:
        return None
    token = str(lease_token(call))
    return build_release(_queue_and_clock(call)[0], [(job_id, token, False) for job_id in lost]), len(lost)
