"""Abend detection: how long after an op or a daemon dies its job shows ABEND in the database.

    python bench/abend_detection.py [--part kill|stop|both] [--repeat N] [--db URL] [--backend B]
                                    [--pg-db URL] [--heartbeat S] [--lease S]

kill  A `jobtui daemon` runs a job whose op is `sleep 600`; the op's process (the pid in op_runs: the
      process its slot's starter spawned, as tests/engine/test_supervision.py does) gets SIGKILL.
      Measured: from the kill to the job's status ABEND, polled every 5 ms on a separate connection. On
      the throwaway database of --backend (SQLite by default), or --db.
stop  PostgreSQL: two daemons with `--heartbeat S --lease S`; the one running the job gets SIGSTOP (a
      paused or cut-off host), the other must see its heartbeat go stale (older than the lease) and ABEND
      the job. Measured: from SIGSTOP to ABEND. Expect about the lease, plus up to a second (the sweep
      runs once a second on an idle engine), minus the age of the last heartbeat at the stop. Uses
      --pg-db, or --db when it is a PostgreSQL URL, else a throwaway cluster. The stopped daemon gets
      SIGCONT after each round and runs on as the other one's peer.

Prints one line per figure (name, value, unit, parameters) and ends with
`kill9_abend_s=<median> sigstop_abend_s=<median>` (only the parts run).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.engine_common import (
    add_db_arguments,
    backend_of,
    daemon_errors,
    database,
    exit_on_sigterm,
    explained,
    figure,
    params_of,
    pg_cluster,
    start_daemon,
    stop_daemons,
    wait_until,
)
from jobtui.engine.db.store import Store
from jobtui.engine.domain.definitions import Definition
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.service.actions import Actions

POLL_S = 0.005


def long_job() -> Definition:
    return parse_definition('name = "victim"\n[[run]]\nargv = ["sleep", "600"]\n', "victim.toml")


def job_status(store: Store, job_id: int) -> tuple[str, str | None]:
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT status, reason FROM jobs WHERE id = :id"), {"id": job_id}).one()
    return str(row[0]), row[1]


def running_op(store: Store, job_id: int) -> tuple[int, str] | None:
    """(pid, worker id) of the job's running op once its pid is recorded."""
    with store.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT o.pid, j.worker_id FROM op_runs o JOIN jobs j ON j.id = o.job_id "
                "WHERE o.job_id = :id AND o.status = 'running' AND o.pid IS NOT NULL"
            ),
            {"id": job_id},
        ).first()
    return (int(row[0]), str(row[1])) if row is not None else None


def live_workers(store: Store, daemons: list[subprocess.Popen[bytes]]) -> dict[str, int]:
    """Worker id -> pid of these daemons' engines, once registered (a given --db may hold older ones)."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, pid FROM workers WHERE stopped_at IS NULL")).all()
    pids = {proc.pid for proc in daemons}
    return {str(r[0]): int(r[1]) for r in rows if int(r[1]) in pids}


def time_to_abend(store: Store, job_id: int, act: Callable[[], None], timeout: float, why: str) -> float:
    started = time.perf_counter()
    act()
    seen = wait_until(lambda: job_status(store, job_id)[0] == "ABEND", timeout, "ABEND", POLL_S)
    status, reason = job_status(store, job_id)
    if why not in (reason or ""):
        raise SystemExit(f"job {job_id} went {status} for an unexpected reason: {reason}")
    return seen - started


def kill_part(url: str, scratch: Path, repeat: int) -> list[float]:
    logs = scratch / "logs-kill"
    store = Store(url, log_dir=logs)
    daemons = [start_daemon(url, logs, "--workers", "2")]
    delays: list[float] = []
    try:
        wait_until(lambda: len(live_workers(store, daemons)) == 1, 60, "the daemon to register", 0.05)
        for _ in range(repeat):
            job_id = Actions(store, Actor("bench")).submit(long_job())
            wait_until(lambda: running_op(store, job_id) is not None, 60, "the op to start", 0.02)  # noqa: B023
            op = running_op(store, job_id)
            assert op is not None
            time.sleep(0.3)  # the engine back to idle, as a real op's death would find it
            delays.append(
                time_to_abend(store, job_id, lambda: os.kill(op[0], signal.SIGKILL), 60, "vanished")  # noqa: B023
            )
    except SystemExit as exc:
        raise explained(exc, daemon_errors(logs)) from None
    finally:
        stop_daemons(daemons)
        store.engine.dispose()
    return delays


def stop_part(url: str, scratch: Path, repeat: int, heartbeat: float, lease: float) -> list[float]:
    logs = scratch / "logs-stop"
    store = Store(url, log_dir=logs)
    timing = ("--heartbeat", str(heartbeat), "--lease", str(lease))
    daemons = [start_daemon(url, logs, "--workers", "2", *timing) for _ in range(2)]
    by_pid = {proc.pid: proc for proc in daemons}
    delays: list[float] = []
    try:
        wait_until(lambda: len(live_workers(store, daemons)) == 2, 60, "both daemons to register", 0.05)
        for round_ in range(repeat):
            job_id = Actions(store, Actor("bench")).submit(long_job())
            wait_until(lambda: running_op(store, job_id) is not None, 60, "the op to start", 0.02)  # noqa: B023
            op = running_op(store, job_id)
            assert op is not None
            holder = by_pid[live_workers(store, daemons)[op[1]]]
            time.sleep(0.3)
            try:
                delays.append(
                    time_to_abend(
                        store,
                        job_id,
                        lambda: holder.send_signal(signal.SIGSTOP),  # noqa: B023
                        lease * 3 + 30,
                        "lost",
                    )
                )
            except SystemExit as exc:
                raise explained(exc, sweep_lock_note(store)) from None
            holder.send_signal(signal.SIGCONT)
            if round_ < repeat - 1:
                time.sleep(heartbeat * 2)  # back in business before the next round: a fresh heartbeat
    except SystemExit as exc:
        raise explained(exc, daemon_errors(logs)) from None
    finally:
        stop_daemons(daemons, now=True)
        store.engine.dispose()
    return delays


def sweep_lock_note(store: Store) -> str:
    with store.engine.connect() as conn:
        held = conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 740252 AND granted")
        ).scalar_one()
    if held:
        return "the sweep's advisory lock is held (by the stopped daemon?), so no engine sweeps"
    return "the sweep's advisory lock is free"


@contextlib.contextmanager
def pg_database(pg_db: str | None, db: str | None) -> Iterator[str]:
    if pg_db:
        yield pg_db
        return
    if db and db.startswith("postgresql") and db != "postgresql":
        yield db
        return
    with pg_cluster() as new_database:
        yield new_database()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=("kill", "stop", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per part (default 5)")
    add_db_arguments(parser)
    parser.add_argument("--pg-db", help="stop part: PostgreSQL database URL (default: --db if PostgreSQL)")
    parser.add_argument("--heartbeat", type=float, default=0.5, help="stop part: daemon --heartbeat (0.5)")
    parser.add_argument("--lease", type=float, default=3.0, help="stop part: daemon --lease (3)")
    parser.add_argument("--quick", action="store_true", help="CI size: --repeat 2")
    args = parser.parse_args()
    exit_on_sigterm()
    if args.quick:
        args.repeat = 2

    results: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="jobtui-bench-"))
    try:
        if args.part in ("kill", "both"):
            with database(args.db, args.backend, scratch) as url:
                delays = kill_part(url, scratch, args.repeat)
            params = params_of(repeat=args.repeat, db=backend_of(url))
            figure("kill9_abend_median_s", statistics.median(delays), "s", params)
            figure("kill9_abend_max_s", max(delays), "s", params)
            results.append(f"kill9_abend_s={statistics.median(delays):.3f}")
        if args.part in ("stop", "both"):
            with pg_database(args.pg_db, args.db) as url:
                delays = stop_part(url, scratch, args.repeat, args.heartbeat, args.lease)
            params = params_of(
                repeat=args.repeat, heartbeat=f"{args.heartbeat:g}", lease=f"{args.lease:g}", db="postgresql"
            )
            figure("sigstop_abend_median_s", statistics.median(delays), "s", params)
            figure("sigstop_abend_min_s", min(delays), "s", params)
            figure("sigstop_abend_max_s", max(delays), "s", params)
            results.append(f"sigstop_abend_s={statistics.median(delays):.3f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(" ".join(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
