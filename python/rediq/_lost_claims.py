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

from .commands import Call, ClaimResult, parse_claim, parse_complete, parse_ids

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


def build_leased_for(call: Call) -> Call:
    """The ``leased-1`` call listing the live leases under ``call``'s token."""
    active = call.keys[4]   # claim-7 and complete-8 both take the active set as KEYS[5]
    return Call("leased-1", [active], [call.args[0], lease_token(call), LEASED_LIMIT])


def build_release_of_lost(call: Call, reply: Any, leased_reply: Any) -> Call | None:
    """The ``release-5`` call handing back what ``call``'s token leased beyond ``reply``.

    Returns None when the reply brought every job leased under the token.
    """
    got = {job.id for job in _CLAIM_REPLY[call.script](reply).jobs}
    lost = [job_id for job_id in parse_ids(leased_reply) if job_id not in got]
    if not lost:
        return None
    meta, wait, prio, _delayed, active, wake = call.keys[:6]
    args: list[Any] = [""]
    for job_id in lost:
        args += (job_id, lease_token(call), "0")
    return Call("release-5", [meta, wait, prio, active, wake], args)
