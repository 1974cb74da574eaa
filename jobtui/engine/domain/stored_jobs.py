"""A job row's stored values checked as what they stand for, without the database layer: the ORM's read
path (db.rows) and the plain driver's (read.job_pages) name a row changed by hand alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from jobtui.engine.domain.states import Status, Step
from jobtui.engine.errors import CorruptRow


def plain_problem(row: str, step: object, progress: object, schedule: object) -> CorruptRow | None:
    """What is wrong with a job's step, progress or schedule as stored, if anything: SQLite keeps any value
    in any column, and a percentage holding text failed in the middle of drawing the table."""
    if step not in Step.__members__.values():
        return CorruptRow(row, "step", step, "a step (INIT, PRE, RUN, POST or END)")
    if type(progress) is not int or not 0 <= progress <= 100:
        return CorruptRow(row, "progress", progress, "a percentage from 0 to 100")
    # Here, not at the top: the dashboard's first paint imports this module, and schedules weigh.
    from jobtui.engine.domain.schedules import JobSchedule

    try:
        JobSchedule.from_json(schedule)  # type: ignore[arg-type]
    except Exception:  # whatever a hand-written value trips on inside (an assertion on a date, too)
        return CorruptRow(row, "schedule", schedule, "a schedule as jobtui writes it")
    return None


def natures_of(row: str, stored: object) -> list[str]:
    try:
        natures = json.loads(stored)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        natures = None
    if not isinstance(natures, list) or not all(isinstance(nature, str) for nature in natures):
        raise CorruptRow(row, "natures", stored, "a JSON list of names")
    return natures


# What a job's stored definition (JSON, jobs.definition) must be, as a message about one says it.
DEFINITION_EXPECTED = "a definition as jobtui writes it"

# The job's columns of free text that its listing and its page show.
TEXT_COLUMNS = ("name", "type", "project", "owner", "reason")


def text_problem(row: str, texts: Mapping[str, object]) -> CorruptRow | None:
    """A text column holding something else: SQLite keeps a blob written by hand (`X'ff'`) in any column,
    and drawing or printing it failed in the middle of a listing."""
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            return CorruptRow(row, name, value, "text")
    return None


def row_problem(
    job_id: int, status: object, natures: object, times: Mapping[str, object], texts: Mapping[str, object]
) -> CorruptRow | None:
    row = f"job {job_id}"
    if status not in Status.__members__.values():
        return CorruptRow(row, "status", status, "a job status")
    problem = text_problem(row, texts)
    if problem is not None:
        return problem
    try:
        natures_of(row, natures)
    except CorruptRow as problem:
        return problem
    for name, value in times.items():
        if value is None or isinstance(value, datetime):
            continue
        try:
            datetime.fromisoformat(value)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return CorruptRow(row, name, value, "a date")
    return None
