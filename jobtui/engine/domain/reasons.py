"""Why something was refused, as the engine says it and as what it is made of.

A refusal's words are a contract (the CLI prints them, scripts match them, the audit trail keeps them):
they stay one English sentence, so a `Reason` is that sentence, a `str`. It also carries its `kind` and
the `facts` it was made from, so that a dashboard in another language can say the same thing in its own
words (job statuses by their labels, actions by their titles) instead of showing the English one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The kinds of refusal a dashboard may meet. Ids are ints, statuses codes, `allowed` a tuple of codes.
STATUS = "status"
PERMISSION = "permission"
NOT_APPROVER = "not_approver"
NO_ROLLBACK_WORK = "no_rollback_work"
RUN_STARTED = "run_started"
LATER_JOB_RAN = "later_job_ran"
SKIPS_APPROVAL = "skips_approval"
SKIPS_RUN = "skips_run"
SKIPS_PRE = "skips_pre"
ENVELOPE_STATUS = "envelope_status"
ENVELOPE_BUSY = "envelope_busy"
ENVELOPE_NO_ROLLBACK_WORK = "envelope_no_rollback_work"
ENVELOPE_NEWER = "envelope_newer"
CHAIN_WAITS = "chain_waits"
OP_LEFT_RUNNING = "op_left_running"
OP_CANCELED_ELSEWHERE = "op_canceled_elsewhere"
HOST_LIVE = "host_live"
ENVELOPE_ROLLED_BACK = "envelope_rolled_back"
ENVELOPE_JOB_NOT_ENDED = "envelope_job_not_ended"
ENDING = "ending"

# The facts each kind carries: what a translation of it may say. `action` is the engine's name of what
# was refused (a dashboard says its own title of the command instead).
_ENVELOPE = frozenset({"action", "envelope", "name"})
FACTS: dict[str, frozenset[str]] = {
    STATUS: frozenset({"action", "job", "status", "allowed"}),
    PERMISSION: frozenset({"action", "user", "permission", "project"}),
    NOT_APPROVER: frozenset({"action", "user", "permission", "project"}),
    NO_ROLLBACK_WORK: frozenset({"action", "job"}),
    RUN_STARTED: frozenset({"action", "job"}),
    LATER_JOB_RAN: frozenset({"action", "job", "later", "later_name", "project"}),
    SKIPS_APPROVAL: frozenset({"action", "job"}),
    # `cause`: the engine's English words for why RUN did not succeed (a translation names no cause).
    SKIPS_RUN: frozenset({"action", "job", "cause"}),
    SKIPS_PRE: frozenset({"action", "job", "cause"}),
    ENVELOPE_STATUS: _ENVELOPE | {"status"},
    ENVELOPE_BUSY: _ENVELOPE,
    ENVELOPE_NO_ROLLBACK_WORK: _ENVELOPE,
    ENVELOPE_NEWER: _ENVELOPE | {"newer", "newer_name", "project"},
    # `waiting`: the next job of the envelope's chain, which only `job`'s end would release or cancel.
    CHAIN_WAITS: _ENVELOPE | {"job", "waiting", "waiting_name"},
    # An op of the job may still run on `host` (`pid`: its process group there, "?" when not recorded).
    OP_LEFT_RUNNING: frozenset({"action", "job", "exec", "host", "pid"}),
    # The same op, canceled from another host than its own, whose engine has not said it stopped it yet.
    OP_CANCELED_ELSEWHERE: frozenset({"action", "job", "exec", "host", "pid"}),
    # `host-gone` of a host with a live engine (`pid`).
    HOST_LIVE: frozenset({"action", "host", "pid"}),
    # A job of an envelope rolled back (or being rolled back) would apply again what the rollback undid.
    ENVELOPE_ROLLED_BACK: _ENVELOPE | {"job"},
    # The job has not ended (the last of its envelope's chain: none waits for it): deleted, its envelope
    # would read as if it had never had it (SUCCESS, when the jobs before it succeeded).
    ENVELOPE_JOB_NOT_ENDED: _ENVELOPE | {"job", "status"},
    # The job is on its way to `status` (rejected, expired): its POST step runs first, RUN never will.
    ENDING: frozenset({"action", "job", "status"}),
}


class Reason(str):
    """The engine's sentence (str() of it, unchanged) with the `kind` and `facts` it says."""

    kind: str
    facts: Mapping[str, Any]

    def __new__(cls, text: str, kind: str, **facts: Any) -> Reason:
        assert set(facts) == FACTS[kind], f"a {kind} refusal carries {sorted(FACTS[kind])}: {sorted(facts)}"
        reason = super().__new__(cls, text)
        reason.kind = kind
        reason.facts = facts
        return reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (str(self), self.kind, dict(self.facts)))


def _rebuilt(text: str, kind: str, facts: dict[str, Any]) -> Reason:
    return Reason(text, kind, **facts)


def reason_of(error: BaseException) -> str:
    """The reason an exception was raised with: a `Reason` when the engine made one, else its text."""
    if error.args and isinstance(error.args[0], Reason):
        return error.args[0]
    return str(error)
