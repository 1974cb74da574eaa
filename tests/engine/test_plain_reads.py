"""`jobtui jobs`, `log` and `audit` read through the plain driver answer what the Store's read path answers:
the same documents, in the same order, the same bytes of a log, and the same rows named as corrupt (it is the
CLI's JSON contract, and scripts read it); what only the Store's path may answer is left to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
from jobtui.engine.read.job_reads import NeedsStore, PlainReads
from jobtui.engine.read.listing import JobListing, scope_of
from jobtui.engine.service import reads
from jobtui.engine.service.reads import Reads
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import run_until_status

BACKENDS = ("sqlite", "postgresql")
UNKNOWN = 4242
Submit = Callable[..., int]
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


def _plain(store: Store, actor: Actor) -> PlainReads:
    plain = PlainReads.open(JobListing(store.reader, scope_of(actor)), actor, None)
    assert plain is not None
    plain.now = store.now  # the test's clock, as the Store's path reads it
    return plain


def _whole_log(reads: Reads | PlainReads, job_id: int) -> bytes:
    data, cursor = b"", None
    while piece := reads.log_read(job_id, cursor, 100):  # small pieces: the cursor moves chunk by chunk
        data, cursor = data + piece.data, piece.cursor
        if not piece.data:
            return data
    return data


def test_one_jobs_summary_log_and_trail_read_plainly_are_the_stores(
    store: Store, engine: Engine, submit: Submit, tmp_path: Path
) -> None:
    bulk_load(store, 60, seed=7)  # no log in the database: read from the local file
    ran = submit('name = "talks"\n[[run]]\nrun = "for n in 1 2 3; do echo line $n; done"\n')
    trapped = submit('name = "stuck"\n[[run]]\nrun = "echo failing; exit 3"\non_error = "trap"\n')
    run_until_status(engine, ran, "FINISHED")
    run_until_status(engine, trapped, "TRAPPED")
    gate = tmp_path / "go"
    again = submit(f'name = "talks"\n[[run]]\nrun = "while [ ! -f {gate} ]; do sleep 0.02; done"\n')
    try:
        engine.run_until(
            lambda: Reads(store, Actor("tester")).detail(again)["tasks"][0]["status"] == "RUNNING"
        )
        local = Path(store.log_file(5))
        local.write_text("from the file\n" * 50)
        tester = Actor("tester")
        reads, plain = Reads(store, tester), _plain(store, tester)
        assert plain.log_dir == store.log_dir
        running = plain.detail(again)["tasks"][0]["steps"][0]
        assert running["status"] == "running" and running["previous_took_s"] is not None  # its last run took
        for job_id in [ran, trapped, again, 5, *range(1, 61, 3)]:
            assert plain.detail(job_id) == reads.detail(job_id), job_id
            assert plain.detail(job_id, lang="es") == reads.detail(job_id, lang="es"), job_id
            assert plain.job(job_id, "log") == reads.job(job_id, "log"), job_id
            assert plain.audit(job_id) == reads.audit(job_id), job_id
            assert plain.has_ended(job_id) == reads.has_ended(job_id), job_id
            assert _whole_log(plain, job_id) == _whole_log(reads, job_id), job_id
        assert b"line 3" in _whole_log(plain, ran) and b"from the file" in _whole_log(plain, 5)
        assert plain.job(trapped, "log")["trap"] is not None  # type: ignore[index]
        assert plain.audit(0) == reads.audit(0) == []
        assert plain.workers() == reads.workers() and plain.workers()[0]["jobs"] == [again]
    finally:
        gate.touch()  # a failed check must not leave the op waiting
    run_until_status(engine, again, "FINISHED")


def test_what_only_the_stores_path_may_answer_is_left_to_it(store: Store, submit: Submit) -> None:
    """A refusal is audited there, a job that is not there is said there, a row changed by hand named."""
    mine = submit('name = "mine"\nproject = "web"\n[[run]]\nrun = "true"\n')
    theirs = submit('name = "theirs"\nproject = "db"\n[[run]]\nrun = "true"\n')
    policy = parse_policy(
        '[roles.viewer]\nactions = ["action.job.view_monitor"]\nprojects = ["web"]\n'
        '[users]\nvera = ["viewer"]\n',
        "policy.toml",
    )
    vera = _plain(store, Actor("vera", policy))
    assert vera.job(mine, "log") is not None and vera.audit(mine)
    for read in (
        lambda: vera.job(theirs, "log"),
        lambda: vera.audit(theirs),
        lambda: vera.log_path(theirs),
        lambda: vera.log_path(UNKNOWN),
        lambda: vera.detail(theirs),
        lambda: vera.detail(UNKNOWN),
        lambda: vera.audit(UNKNOWN),
    ):
        with pytest.raises(NeedsStore):
            read()
    assert vera.job(UNKNOWN, "log") is None and vera.has_ended(UNKNOWN)  # gone: as the Store's path says
    if store.is_sqlite:
        with store.write() as s:
            s.execute(text(f"UPDATE jobs SET ended_at = 'someday' WHERE id = {mine}"))
        with pytest.raises(NeedsStore):
            vera.job(mine, "log")
