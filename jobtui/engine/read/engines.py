"""The workers view's reads: the engines serving the queue (daemons and dashboards' embedded engines), what
each one holds, and how many jobs the queue finished and failed a minute over the last hour."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobtui.engine.domain.processes import is_same_process
from jobtui.engine.read.job_document import iso
from jobtui.engine.read.listing import JobListing, utc_of

# A worker whose heartbeat is older than this is not counted on (as the dashboard judges a daemon).
FRESH_HEARTBEAT_S = 30.0
THROUGHPUT_MINUTES = 60
LIVE_STATUSES = ("RUNNING", "ROLLBACK")  # a job in one of these has an op running (or about to)
FAILED_STATUSES = ("ERROR", "ABEND", "PARTIAL", "EXPIRED")


@dataclass(frozen=True)
class EngineRow:
    id: str
    host: str
    pid: int
    slots: int
    busy: int  # held jobs with an op running or claimed ahead, waiting for a slot
    jobs: tuple[int, ...]  # the jobs it holds that the reader may see
    started_at: datetime | None
    heartbeat_at: datetime | None
    stopped_at: datetime | None
    kind: str | None = None  # domain.engine_kinds: a daemon, or a dashboard's (gone when it closes)
    stopping_at: datetime | None = None  # it claims nothing more, its ops in flight finishing
    # Its process is gone (of this host, asked by pid and create time): a kill -9 leaves its heartbeat
    # fresh for a while, and it read "live" though the header, asking the same, said it was gone.
    gone: bool = False

    def heartbeat_age_s(self, now: datetime) -> float | None:
        return None if self.heartbeat_at is None else max(0.0, (now - self.heartbeat_at).total_seconds())

    def state(self, now: datetime) -> str:
        """live, stopping (it claims nothing more, its ops in flight finishing), stale (no heartbeat for
        FRESH_HEARTBEAT_S, or its process is gone) or stopped."""
        if self.stopped_at is not None:
            return "stopped"
        age = self.heartbeat_age_s(now)
        if age is None or age > FRESH_HEARTBEAT_S or self.gone:
            return "stale"
        return "stopping" if self.stopping_at is not None else "live"


@dataclass(frozen=True)
class Throughput:
    """Jobs that ended a minute, oldest minute first, the current minute last."""

    finished: tuple[int, ...]
    failed: tuple[int, ...]


def engines(listing: JobListing, limit: int = 50) -> list[EngineRow]:
    """The engines registered, the running and most recently heard first."""
    rows = listing.reader.rows(
        "SELECT id, host, pid, slots, started_at, heartbeat_at, stopped_at, kind, stopping_at, "
        "pid_create_time, pid_start FROM workers "
        "ORDER BY CASE WHEN stopped_at IS NULL THEN 0 ELSE 1 END, heartbeat_at DESC LIMIT :n",
        {"n": limit},
    )
    if not rows:
        return []
    ids = [str(row[0]) for row in rows]
    marks = ", ".join(f":worker_{n}" for n in range(len(ids)))
    clause, params = listing.in_scope(
        f"jobs.worker_id IN ({marks})", {f"worker_{n}": worker for n, worker in enumerate(ids)}
    )
    jobs: dict[str, list[tuple[int, str]]] = {}
    for worker, job_id, status in listing.reader.rows(
        f"SELECT jobs.worker_id, jobs.id, jobs.status FROM jobs{clause} ORDER BY jobs.id", params
    ):
        jobs.setdefault(str(worker), []).append((int(job_id), str(status)))
    found = []
    here = socket.gethostname()
    for worker, host, pid, slots, started, beat, stopped, kind, stopping, created, start in rows:
        mine = jobs.get(str(worker), [])
        gone = (
            stopped is None
            and host == here
            and not is_same_process(int(pid or 0), float(created or 0), start)
        )
        found.append(
            EngineRow(
                str(worker),
                str(host),
                int(pid or 0),
                int(slots or 0),
                sum(1 for _, status in mine if status in LIVE_STATUSES),
                tuple(job_id for job_id, _ in mine),
                utc_of(started),
                utc_of(beat),
                utc_of(stopped),
                None if kind is None else str(kind),
                utc_of(stopping),
                gone,
            )
        )
    return found


def throughput(listing: JobListing, now: datetime) -> Throughput:
    """Jobs in scope (system jobs apart) that ended in each of the last THROUGHPUT_MINUTES minutes,
    counted by the database a minute and a status (a busy hour ends hundreds of thousands of jobs)."""
    start = (now - timedelta(minutes=THROUGHPUT_MINUTES - 1)).replace(second=0, microsecond=0)
    minute = (
        "substr(jobs.ended_at, 1, 16)"
        if listing.is_sqlite
        else "to_char(jobs.ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
    )
    clause, params = listing.listed("jobs.ended_at >= :start", {"start": listing.reader.stored_time(start)})
    finished = [0] * THROUGHPUT_MINUTES
    failed = [0] * THROUGHPUT_MINUTES
    rows = listing.reader.rows(
        f"SELECT {minute} AS minute, jobs.status, count(*) FROM jobs{clause} GROUP BY minute, jobs.status",
        params,
    )
    for when, status, count in rows:
        at = datetime.fromisoformat(f"{when}:00+00:00")
        index = int((at - start).total_seconds() // 60)
        if not 0 <= index < THROUGHPUT_MINUTES:
            continue
        if status == "FINISHED":
            finished[index] += int(count)
        elif status in FAILED_STATUSES:
            failed[index] += int(count)
    return Throughput(tuple(finished), tuple(failed))


def waiting(listing: JobListing, now: datetime) -> int:
    """Jobs in scope due to run now and waiting for an engine (READY, their date passed)."""
    clause, params = listing.listed(
        "jobs.status = 'READY' AND jobs.due_at <= :now", {"now": listing.reader.stored_time(now)}
    )
    return int(listing.reader.value(f"SELECT count(*) FROM jobs{clause}", params) or 0)


def worker_json(engine: EngineRow, now: datetime) -> dict[str, Any]:
    """One engine of `jobtui workers --json` (contract keys): what the dashboard's workers view shows.
    `state`: live, stale (no heartbeat for FRESH_HEARTBEAT_S: lost, its jobs are taken over once its
    lease lapses) or stopped. `busy` counts the jobs it holds with an op running or claimed ahead (it
    may exceed `slots`); `jobs` the jobs it holds that the reader may view."""
    age = engine.heartbeat_age_s(now)
    return {
        "worker_id": engine.id,
        "host": engine.host,
        "pid": engine.pid,
        "kind": engine.kind,
        "started_at": iso(engine.started_at),
        "heartbeat_at": iso(engine.heartbeat_at),
        "heartbeat_age_s": None if age is None else round(age, 1),
        "stopped_at": iso(engine.stopped_at),
        "stopping_at": iso(engine.stopping_at),
        "slots": engine.slots,
        "busy": engine.busy,
        "jobs": list(engine.jobs),
        "state": engine.state(now),
    }
