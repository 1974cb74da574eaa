"""Job status codes, their labels, and the one transition table that decides what may happen to a job.

The UI asks `allowed_actions` which keys to enable; `actions` asks `check_action` before any change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jobtui.engine.domain import reasons
from jobtui.engine.domain.reasons import Reason
from jobtui.engine.domain.text import visible


class Status(StrEnum):
    READY = "READY"
    RUNNING = "RUNNING"
    APPROVAL = "APPROVAL"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    ABEND = "ABEND"
    ROLLBACK = "ROLLBACK"
    ROLLEDBACK = "ROLLEDBACK"
    FINISHED = "FINISHED"
    PARTIAL = "PARTIAL"
    ERROR = "ERROR"
    CANCELED = "CANCELED"
    TRAPPED = "TRAPPED"
    TRAP_PAUSED = "TRAP_PAUSED"
    PAUSED = "PAUSED"
    REPLACED = "REPLACED"


# The statuses in which a job waits for a person: an operator's answer (a trap, an approval, a paused
# trap or window) or a look at what went wrong (an abend, an error, an expiry). The needs-attention view
# and the header's count show them.
NEEDS_ATTENTION: frozenset[Status] = frozenset(
    {
        Status.TRAPPED,
        Status.TRAP_PAUSED,
        Status.APPROVAL,
        Status.ABEND,
        Status.ERROR,
        Status.EXPIRED,
        Status.PAUSED,
    }
)


# How the job table sorts by status: by what it asks of a person, the most urgent first (needs attention,
# then what still runs or waits, then what ended, a success last).
SEVERITY: tuple[Status, ...] = (
    Status.TRAPPED,
    Status.ABEND,
    Status.ERROR,
    Status.TRAP_PAUSED,
    Status.APPROVAL,
    Status.EXPIRED,
    Status.PAUSED,
    Status.PARTIAL,
    Status.ROLLBACK,
    Status.RUNNING,
    Status.READY,
    Status.REJECTED,
    Status.CANCELED,
    Status.ROLLEDBACK,
    Status.REPLACED,
    Status.FINISHED,
)
assert set(SEVERITY) == set(Status), "every status has its rank"


class Step(StrEnum):
    INIT = "INIT"
    PRE = "PRE"
    RUN = "RUN"
    POST = "POST"
    END = "END"


# Rollback op runs are recorded under their own pseudo-step so the pipeline's progress ignores them.
ROLLBACK_STEP = "ROLLBACK"
# The type of the job an envelope rollback queues: its whole work is rollback runs (no pipeline op).
ROLLBACK_JOB_TYPE = "envelope-rollback"
PIPELINE_OP_STEPS = (Step.PRE, Step.RUN, Step.POST)


class TaskStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    RESCHEDULED = "RESCHEDULED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class OpStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


LABELS: dict[str, dict[Status, str]] = {
    "en": {
        Status.READY: "Ready",
        Status.RUNNING: "Running",
        Status.APPROVAL: "Waiting for Approval",
        Status.REJECTED: "Rejected",
        Status.EXPIRED: "Expired",
        Status.ABEND: "Abend",
        Status.ROLLBACK: "Rollback",
        Status.ROLLEDBACK: "Rolled Back",
        Status.FINISHED: "Finished",
        Status.PARTIAL: "Partially Succeeded",
        Status.ERROR: "Error",
        Status.CANCELED: "Canceled",
        Status.TRAPPED: "Trapped",
        Status.TRAP_PAUSED: "Trap Paused",
        Status.PAUSED: "Paused",
        Status.REPLACED: "Replaced",
    },
    # Seed 002's words.
    "es": {
        Status.READY: "Listo",
        Status.RUNNING: "Ejecutando",
        Status.APPROVAL: "Pendiente de aprobación",
        Status.REJECTED: "Rechazado",
        Status.EXPIRED: "Expirado",
        Status.ABEND: "Abend",
        Status.ROLLBACK: "Rollback",
        Status.ROLLEDBACK: "Deshecho",
        Status.FINISHED: "Finalizado",
        Status.PARTIAL: "Parcialmente correcto",
        Status.ERROR: "Error",
        Status.CANCELED: "Cancelado",
        Status.TRAPPED: "Capturado",
        Status.TRAP_PAUSED: "Capturado en pausa",
        Status.PAUSED: "En pausa",
        Status.REPLACED: "Reemplazado",
    },
}


def status_label(status: str, lang: str = "en") -> str:
    """The status's word in `lang`; a code jobtui does not know (a row changed by hand) as itself, marked
    unknown with a "?" (its control characters shown, never obeyed), so the dashboard still lists the row."""
    labels = LABELS.get(lang, LABELS["en"])
    return labels[Status(status)] if status in labels else f"{visible(status)}?"


# Statuses in which an op process may be alive: the engine owns the job and nobody may delete or rerun it.
LIVE_STATUSES = frozenset({Status.RUNNING, Status.ROLLBACK})
# Statuses the engine will never move a job out of on its own.
FINAL_STATUSES = frozenset(
    {
        Status.FINISHED,
        Status.PARTIAL,
        Status.ERROR,
        Status.CANCELED,
        Status.ROLLEDBACK,
        Status.ABEND,
        Status.EXPIRED,
        Status.REJECTED,
        Status.REPLACED,
    }
)
ANY_STATUS = frozenset(Status)
NOT_LIVE = ANY_STATUS - LIVE_STATUSES


class Perm(StrEnum):
    VIEW = "action.job.view_monitor"
    APPROVE_ALL = "action.job.approve_all"
    RESTART = "action.job.restart"
    CANCEL = "action.job.cancel"
    DELETE = "action.job.delete"
    CREATE = "action.job.create"
    ROLLBACK = "action.job.rollback"
    QUEUE_ADMIN = "action.queue.admin"
    IMPERSONATE = "action.admin.impersonate"
    # Install, replace or remove the policy stored in the database (jobtui policy install/remove).
    ADMIN_POLICY = "action.admin.policy"


@dataclass(frozen=True)
class ActionRule:
    name: str
    allowed_from: frozenset[Status]
    results: frozenset[Status]
    permission: Perm
    description: str


def _rule(
    name: str, allowed: frozenset[Status] | set[Status], results: set[Status], perm: Perm, text: str
) -> ActionRule:
    return ActionRule(name, frozenset(allowed), frozenset(results), perm, text)


# The operator half of DESIGN.md's transition table. Approve/reject use APPROVE_ALL as their named
# permission, but listed approvers may also act (see permissions.may_approve).
ACTIONS: dict[str, ActionRule] = {
    rule.name: rule
    for rule in (
        _rule("approve", {Status.APPROVAL}, {Status.READY}, Perm.APPROVE_ALL, "approve the job"),
        # Rejection runs POST (its notifications) first when there is one, hence READY.
        _rule("reject", {Status.APPROVAL}, {Status.REJECTED, Status.READY}, Perm.APPROVE_ALL, "reject"),
        _rule(
            "cancel",
            {
                Status.READY,
                Status.APPROVAL,
                Status.RUNNING,
                Status.TRAPPED,
                Status.TRAP_PAUSED,
                Status.PAUSED,
                Status.EXPIRED,
                Status.REJECTED,
            },
            {Status.CANCELED},
            Perm.CANCEL,
            "cancel the job",
        ),
        _rule("delete", NOT_LIVE, set(), Perm.DELETE, "delete the job"),
        _rule("rerun", NOT_LIVE, {Status.READY}, Perm.RESTART, "rerun from a step"),
        _rule(
            "reschedule",
            {Status.READY, Status.EXPIRED, Status.APPROVAL},
            {Status.READY, Status.APPROVAL},
            Perm.RESTART,
            "reschedule RUN",
        ),
        _rule("trap_retry", {Status.TRAPPED, Status.TRAP_PAUSED}, {Status.READY}, Perm.RESTART, "retry op"),
        _rule("trap_skip", {Status.TRAPPED, Status.TRAP_PAUSED}, {Status.READY}, Perm.RESTART, "skip op"),
        # An aborted RUN op of a job that rolls back on error starts its rollback at once (then POST).
        _rule(
            "trap_abort",
            {Status.TRAPPED, Status.TRAP_PAUSED},
            {Status.READY, Status.ROLLBACK},
            Perm.RESTART,
            "abort op",
        ),
        _rule("trap_pause", {Status.TRAPPED}, {Status.TRAP_PAUSED}, Perm.RESTART, "pause trap timeout"),
        _rule("trap_resume", {Status.TRAP_PAUSED}, {Status.TRAPPED}, Perm.RESTART, "resume trap timeout"),
        _rule(
            "rollback",
            {Status.FINISHED, Status.ERROR, Status.PARTIAL, Status.ABEND},
            {Status.ROLLBACK},
            Perm.ROLLBACK,
            "roll back completed ops",
        ),
        # A PARTIAL job's retry runs only its tasks that did not succeed, from where they stopped.
        _rule(
            "retry",
            {Status.ERROR, Status.ABEND, Status.PARTIAL},
            {Status.READY},
            Perm.RESTART,
            "retry the failed step",
        ),
    )
}

QUEUE_ACTIONS = ("queue_pause", "queue_resume", "queue_clear")

# The engine half: (from, to) pairs the scheduler itself may make.
ENGINE_TRANSITIONS: frozenset[tuple[Status, Status]] = frozenset(
    {
        (Status.READY, Status.RUNNING),  # claimed when due
        (Status.RUNNING, Status.READY),  # step done, RUN waits for its date
        (Status.RUNNING, Status.APPROVAL),  # PRE done, approval needed before RUN
        (Status.RUNNING, Status.TRAPPED),
        (Status.RUNNING, Status.ROLLBACK),  # automatic rollback after RUN failure
        (Status.RUNNING, Status.FINISHED),
        (Status.RUNNING, Status.PARTIAL),
        (Status.RUNNING, Status.ERROR),
        (Status.RUNNING, Status.REJECTED),  # POST after a rejection done
        (Status.RUNNING, Status.ROLLEDBACK),  # POST after an automatic rollback done
        (Status.RUNNING, Status.ABEND),
        (Status.RUNNING, Status.PAUSED),  # its schedule window closed between ops
        (Status.PAUSED, Status.RUNNING),  # the window reopened
        (Status.PAUSED, Status.READY),  # expired while paused: POST still runs
        (Status.PAUSED, Status.EXPIRED),  # expired while paused before RUN started
        (Status.PAUSED, Status.REPLACED),
        (Status.READY, Status.EXPIRED),
        (Status.RUNNING, Status.EXPIRED),  # PRE outlasted Max Start Date
        (Status.APPROVAL, Status.EXPIRED),
        (Status.READY, Status.CANCELED),  # queue clear
        (Status.READY, Status.REPLACED),
        (Status.APPROVAL, Status.REPLACED),
        (Status.TRAPPED, Status.READY),  # trap timeout action
        (Status.ROLLBACK, Status.RUNNING),  # POST after automatic rollback
        (Status.ROLLBACK, Status.ROLLEDBACK),
        (Status.ROLLBACK, Status.ERROR),
        (Status.ROLLBACK, Status.ABEND),
        (Status.ROLLBACK, Status.TRAPPED),
        # An envelope chain resumes: the jobs a failure cancelled come back once that job is retried/rerun.
        (Status.CANCELED, Status.READY),
    }
)


def is_allowed_transition(src: Status, dst: Status) -> bool:
    """Whether any row of the table (operator or engine) leads from src to dst."""
    if src == dst:
        return True
    if (src, dst) in ENGINE_TRANSITIONS:
        return True
    return any(src in rule.allowed_from and dst in rule.results for rule in ACTIONS.values())


def refusal_for_status(action: str, job_id: int, status: Status) -> str | None:
    """None when the table allows `action` from `status`, else the reason an operator will read."""
    rule = ACTIONS[action]
    if status in rule.allowed_from:
        return None
    allowed = tuple(s.value for s in Status if s in rule.allowed_from)
    name = display_action(action)
    return Reason(
        f"{name}: job {job_id} is {status.value}; allowed from {', '.join(allowed)}",
        reasons.STATUS,
        action=name,
        job=job_id,
        status=status.value,
        allowed=allowed,
    )


def display_action(action: str) -> str:
    return action.replace("_", " ")
