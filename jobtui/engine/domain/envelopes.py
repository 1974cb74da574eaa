"""Envelope status is derived from its jobs, never edited by hand (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from jobtui.engine.domain.states import Status


class EnvelopeStatus(StrEnum):
    SUCCESS = "SUCCESS"
    SUCCESS_ACTIVE = "SUCCESS_ACTIVE"
    ERRORS = "ERRORS"
    ERRORS_ACTIVE = "ERRORS_ACTIVE"
    CORRUPT = "CORRUPT"
    CANCELLED = "CANCELLED"
    ROLLEDBACK = "ROLLEDBACK"


STICKY = frozenset({EnvelopeStatus.CORRUPT, EnvelopeStatus.CANCELLED, EnvelopeStatus.ROLLEDBACK})
ACTIVE_JOB = frozenset(
    {
        Status.READY,
        Status.RUNNING,
        Status.ROLLBACK,
        Status.APPROVAL,
        Status.TRAPPED,
        Status.TRAP_PAUSED,
        Status.PAUSED,
    }
)
# Every end but FINISHED stops the chain (worker.chain): a job that ends PARTIAL (a target failed) or
# ROLLEDBACK is an error of its envelope too; "SUCCESS" read as if all had gone through.
FAILED_JOB = frozenset(
    {
        Status.ERROR,
        Status.ABEND,
        Status.EXPIRED,
        Status.REJECTED,
        Status.CANCELED,
        Status.PARTIAL,
        Status.ROLLEDBACK,
    }
)
# Active jobs that make an active envelope's errors (seed 004 ErrorsActive, "actively processing data but
# errors have occurred"): one whose op failed and that waits for a person (retry, skip or abort the trap),
# and one rolling back (its op failed, or an operator undoes it: it ends ROLLEDBACK, an error of its
# envelope). The other needs-attention statuses that are still active are no error: an approval, a schedule
# window that closed (PAUSED).
FAILING_JOB = frozenset({Status.TRAPPED, Status.TRAP_PAUSED, Status.ROLLBACK})


_KNOWN = frozenset(status.value for status in Status)


def derive_status(stored: str | None, job_statuses: Sequence[str]) -> EnvelopeStatus:
    """CORRUPT, CANCELLED and ROLLEDBACK stick; otherwise the jobs decide. A resumed chain (stored
    ERRORS_ACTIVE, see worker.chain) had errors: it shows ERRORS_ACTIVE while its jobs run, and SUCCESS once
    they all end FINISHED. Stored ERRORS: a failed job of it was deleted, its failure stays on record. A
    trapped job (FAILING_JOB) makes an active envelope ERRORS_ACTIVE while it waits for an operator."""
    if stored is not None and EnvelopeStatus(stored) in STICKY:
        return EnvelopeStatus(stored)
    statuses = [Status(s) for s in job_statuses if s in _KNOWN]
    # A job whose status jobtui does not know (a row changed by hand) is no success of its envelope.
    unreadable = len(statuses) < len(job_statuses)
    active = any(s in ACTIVE_JOB for s in statuses)
    failed = unreadable or any(s in FAILED_JOB for s in statuses) or stored == EnvelopeStatus.ERRORS
    if active:
        failing = any(s in FAILING_JOB for s in statuses)
        had_errors = failed or failing or stored == EnvelopeStatus.ERRORS_ACTIVE
        return EnvelopeStatus.ERRORS_ACTIVE if had_errors else EnvelopeStatus.SUCCESS_ACTIVE
    return EnvelopeStatus.ERRORS if failed else EnvelopeStatus.SUCCESS
