"""What a dialog is about: the job (a JobSnapshot) or the envelope (EnvelopeFacts) it shows on top."""

from __future__ import annotations

from dataclasses import dataclass

from textual.widgets import Static

from jobtui.engine.domain.text import visible
from jobtui.engine.service.snapshot import JobSnapshot
from jobtui.i18n import count_text, envelope_status_text, status_text, t


@dataclass(frozen=True)
class EnvelopeFacts:
    """What an envelope dialog shows, read when the key was pressed (like a JobSnapshot for a job)."""

    id: int
    name: str
    project: str
    status: str  # the derived EnvelopeStatus value
    jobs: int


def _status(job: JobSnapshot, lang: str) -> str:
    try:
        return status_text(job.status, lang)
    except ValueError:
        # A code this version does not know (a newer daemon wrote it): show what the snapshot said.
        return job.status_label


def job_facts_now(job: JobSnapshot, status: str | None, step: str | None, lang: str) -> str:
    """The facts line of a dialog's job once the job changed while the dialog was open (its status, its
    step; None: it is gone), saying so: the operator answers about the job as it is now."""
    if status is None:
        return t("dialog.subject_gone", lang)
    try:
        shown = status_text(status, lang)
    except ValueError:
        shown = status
    facts = t("common.job_facts", lang, project=job.project, status=shown, step=step or job.step)
    return visible(f"{facts} · {t('dialog.subject_changed', lang)}")


def _job_lines(job: JobSnapshot, lang: str) -> list[Static]:
    # markup=False everywhere job data is shown: names come from definition files and may contain "[";
    # and their control characters are shown (visible), never sent to the terminal.
    return [
        Static(t("common.job", lang, id=job.id, name=visible(job.name)), classes="job-line", markup=False),
        Static(
            visible(
                t("common.job_facts", lang, project=job.project, status=_status(job, lang), step=job.step)
            ),
            classes="job-facts",
            markup=False,
        ),
    ]


def _envelope_lines(envelope: EnvelopeFacts, lang: str) -> list[Static]:
    try:
        status = envelope_status_text(envelope.status, lang)
    except KeyError:
        status = envelope.status  # a status this version does not know: show the code
    return [
        Static(
            t("common.envelope", lang, id=envelope.id, name=visible(envelope.name)),
            classes="job-line",
            markup=False,
        ),
        Static(
            visible(
                t(
                    "common.envelope_facts",
                    lang,
                    project=envelope.project,
                    status=status,
                    jobs=count_text(envelope.jobs, "job", lang),
                )
            ),
            classes="job-facts",
            markup=False,
        ),
    ]


def _subject_lines(subject: JobSnapshot | EnvelopeFacts, lang: str) -> list[Static]:
    if isinstance(subject, EnvelopeFacts):
        return _envelope_lines(subject, lang)
    return _job_lines(subject, lang)
