"""`jobtui jobs` read through the plain driver lists what the ORM's read path lists: the same documents, in
the same order, and the same rows named as corrupt (it is the CLI's JSON contract, and scripts read it)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from jobtui.demo.bulk import PROJECTS, bulk_load
from jobtui.engine.db.rows import JOB_TIME_COLUMNS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.errors import CorruptRow
from jobtui.engine.formats.policy_file import parse_policy
from jobtui.engine.read import job_pages
from jobtui.engine.read.job_pages import TIME_COLUMNS, job_documents
from jobtui.engine.read.listing import JobListing, scope_of
from jobtui.engine.service import reads
from jobtui.engine.service.reads import Reads

BACKENDS = ("sqlite", "postgresql")
PAGE = 25  # the pages both paths read (1000 each in use)

# Read by both paths: (statuses, project, include_system, limit).
ASKED = [
    ([], None, True, 0),
    ([], None, False, 0),
    (["TRAPPED", "TRAP_PAUSED", "READY", "PAUSED"], None, True, 0),
    ([], PROJECTS[1], True, 0),
    ([], None, True, 7),
    ([], None, True, PAGE + 3),  # across a page
]


def _both(
    store: Store, actor: Actor, asked: tuple[list[str], str | None, bool, int]
) -> tuple[object, object]:
    statuses, project, system, limit = asked
    orm_problems: list[CorruptRow] = []
    orm = list(Reads(store, actor).iter_jobs(statuses, project, system, limit, orm_problems))
    plain_problems: list[CorruptRow] = []
    listing = JobListing(store.reader, scope_of(actor))
    plain = list(job_documents(listing, statuses, project, system, limit, store.now(), plain_problems))
    return (orm, [str(p) for p in orm_problems]), (plain, [str(p) for p in plain_problems])


def test_the_plain_listing_gives_the_orm_listings_documents(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "JOB_PAGE", PAGE)
    monkeypatch.setattr(job_pages, "JOB_PAGE", PAGE)
    bulk_load(store, 160, seed=5)  # every status a job can be in: trapped, paused, windowed…
    with store.write() as s:  # a job of the system's, listed only when asked
        s.execute(text("UPDATE jobs SET system = true WHERE id = 3"))
    tester = Actor("tester")
    for asked in ASKED:
        orm, plain = _both(store, tester, asked)
        assert plain == orm, asked
        assert orm[0], asked  # something was listed
    trapped = [job for job in _both(store, tester, ASKED[2])[0][0] if job["trap"]]  # type: ignore[index]
    assert trapped and any(job["trap"]["target"] for job in trapped)
    policy = parse_policy(
        f'[roles.viewer]\nactions = ["action.job.view_monitor"]\nprojects = ["{PROJECTS[0]}"]\n'
        '[users]\nvera = ["viewer"]\n',
        "policy.toml",
    )
    orm, plain = _both(store, Actor("vera", policy), ASKED[0])
    assert plain == orm
    assert {job["project"] for job in orm[0]} == {PROJECTS[0]}  # type: ignore[index]


@pytest.mark.parametrize(
    "change",
    [
        "status = 'BOGUS'",
        "natures = 'not json'",
        "progress = 250",
        "step = 'NOWHERE'",
        "schedule = '{\"every\": 1'",
        "ended_at = 'yesterday'",
        "status = 'BOGUS', started_at = 'then'",
    ],
)
@pytest.mark.backends("sqlite")  # any text in any column: SQLite only
def test_the_plain_listing_names_the_rows_changed_by_hand_as_the_orm_listing_does(
    store: Store, change: str
) -> None:
    bulk_load(store, 60, seed=2)
    with store.write() as s:
        s.execute(text(f"UPDATE jobs SET {change} WHERE id IN (5, 17)"))
    orm, plain = _both(store, Actor("tester"), ASKED[0])
    assert plain == orm
    listed, problems = orm  # type: ignore[misc]
    assert len(listed) == 58 and [p.split(":")[1].strip() for p in problems] == ["job 17", "job 5"]


def test_the_plain_listing_knows_every_time_column_of_the_jobs_table() -> None:
    """A time column added to the table must be checked on the plain path too (a row holding no date in
    it is named, not a crash)."""
    assert TIME_COLUMNS == JOB_TIME_COLUMNS
