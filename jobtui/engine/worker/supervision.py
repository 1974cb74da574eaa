"""Watching the ops in flight: collecting their outcomes, timing them out, dropping jobs whose lease
was lost, and killing what ignores SIGTERM."""

from __future__ import annotations

import logging
import os

import pendulum
import psutil
from sqlmodel import Session

from jobtui.engine.db.raw import select_rows
from jobtui.engine.db.store import DATABASE_ERRORS
from jobtui.engine.worker.runner import (
    OpHandle,
    OpOutcome,
    ProcessHandle,
    describe,
    group_alive,
    live_tokens,
    processes_with_token,
)
from jobtui.engine.worker.slots import process_of
from jobtui.engine.worker.state import Dying, EngineState, Held

log = logging.getLogger("jobtui.engine")

# Why a job's lease went, as its log says when its op is terminated for it.
_ENDED_BY_HAND = ("CANCELED", "ABEND", "PAUSED", "REPLACED")


_LEASES = "SELECT id, lease, status FROM jobs WHERE id IN :ids"


class Supervisor:
    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.dying: list[Dying] = []

    def collect(self, now: pendulum.DateTime) -> list[tuple[Held, OpOutcome]]:
        """The ops that ended, with how; terminate those past their timeout."""
        ended: list[tuple[Held, OpOutcome]] = []
        for held in list(self.state.held.values()):
            if held.handle is None:
                continue
            outcome = held.handle.poll()
            if held.log_cap is not None:
                held.log_cap.enforce()
            if outcome is None:
                if held.deadline is not None and now >= held.deadline and not held.timed_out:
                    # Not when it ended of itself meanwhile: it finished in its time.
                    held.timed_out = self.terminate_tree(held.handle, "timed out")
                continue
            process = process_of(held.handle)
            if process is not None and (first_line := process.unwritten_first_line()):
                # A silent op: its "started" line goes with its end, without a file (see opstarter).
                self.state.hold_back_stamped(held.log_path, first_line)
            if held.timed_out:
                limit = held.timeout_s or 0
                # 124 (as timeout(1) says it) unless it failed of its own: an op that cleans up on SIGTERM
                # and exits 0 did not finish its work in its time.
                outcome = OpOutcome(
                    outcome.exit_code if outcome.exit_code not in (None, 0) else 124,
                    f"timed out after {_fmt_seconds(limit)}",
                )
            cap, held.log_cap = held.log_cap, None
            if cap is not None and (marker := cap.marker()):
                self.state.append_log(cap.path, marker)
            ended.append((held, outcome))
        return ended

    def check_leases(self, s: Session | None = None) -> set[int]:
        """Drop the jobs that are no longer ours (canceled, taken over) and terminate what runs of their
        ops, before their outcomes are recorded: a cancel's SIGTERM may have ended an op's shell
        while what it started ignores it and runs on. With `s`, in the pass's write transaction (one read
        less a pass); the ids dropped."""
        watched = dict(self.state.held)
        if not watched:
            return set()
        if s is None:
            with self.state.store.read() as read:
                found = select_rows(read, _LEASES, list(watched))
        else:
            found = select_rows(s, _LEASES, list(watched))
        current = {row["id"]: (row["lease"], row["status"]) for row in found}
        lost = set()
        for job_id, held in watched.items():
            lease, status = current.get(job_id, (None, None))
            if lease != held.lease:
                self.drop(held, f"job {status}" if status in _ENDED_BY_HAND else "lease lost", s)
                lost.add(job_id)
        return lost

    def drop(self, held: Held, why: str, s: Session | None = None) -> None:
        """Stop touching a job we no longer own (cancelled, deleted, taken over); kill its op."""
        if held.handle is not None:  # its op's "started" line, held back, ships with what it wrote
            self.state.write_held_back(held.log_path)
        self.state.let_go(held.job_id)  # forgets its shipping state too
        if held.handle is not None:
            log.info("job %s: %s; terminating its op", held.job_id, why)
            self.terminate_tree(held.handle, why)
            self._ship_last(held, s)

    def _ship_last(self, held: Held, s: Session | None) -> None:
        """The op's output so far and the line saying it was terminated reach the database
        (what it writes after SIGTERM does not: the job is no longer this engine's)."""
        path = held.log_path or getattr(held.handle, "log_path", "")
        if not path:
            return
        try:
            if s is None:
                with self.state.store.write(walking=True) as own:
                    self.state.shipper.ship_job(own, held.job_id, path, held.log_cap)
            else:
                with self.state.store.savepoint(s):
                    self.state.shipper.ship_job(s, held.job_id, path, held.log_cap)
        except Exception as exc:  # the job is let go either way; only the log's last lines stay behind
            if s is not None and isinstance(exc, DATABASE_ERRORS):
                raise
            log.warning("job %s: could not ship the end of its log: %s", held.job_id, exc)
        self.state.shipper.forget(held.job_id)

    def terminate_tree(self, handle: OpHandle, why: str = "terminated") -> bool:
        """SIGTERM to the op's group now, SIGKILL after the grace period to whatever ignored it; what the
        op started outside its group (found by its token) gets the same signals, named in the job's log.
        False when nothing of it was left to signal."""
        if not _tree_alive(handle):
            return False
        escaped = handle.terminate()
        if (process := process_of(handle)) is not None:
            what = [f"process group {process.pid}"] if process.pid is not None else []
            if escaped:
                what.append(f"{len(escaped)} process(es) it started outside its group: {', '.join(escaped)}")
            if what:
                self._log(process, f"op terminated ({why}): SIGTERM to {' and '.join(what)}")
        self.dying.append(Dying(handle, self.state.store.now()))
        return True

    def escalate_kills(self, now: pendulum.DateTime, grace_s: float) -> None:
        if not self.dying:
            return
        tokens = live_tokens()  # once a pass, for every op still dying
        for dying in list(self.dying):
            if (now - dying.since).total_seconds() >= grace_s:
                if (process := process_of(dying.handle)) is not None:
                    left = _still_running(process)
                    if left:
                        self._log(process, f"SIGKILL after the grace period to: {', '.join(left)}")
                dying.handle.kill()
                self.dying.remove(dying)
            elif not _tree_alive(dying.handle, tokens):
                self.dying.remove(dying)

    def _log(self, process: ProcessHandle, line: str) -> None:
        log.info("%s", line)
        if process.log_path:
            if first_line := process.first_line_before_the_engines():
                self.state.hold_back_stamped(process.log_path, first_line)  # written first, with `line`
            self.state.append_log(process.log_path, line)


def _tree_alive(handle: OpHandle, tokens: dict[str, list[psutil.Process]] | None = None) -> bool:
    if (process := process_of(handle)) is not None:
        return process.tree_alive(tokens)
    return handle.poll() is None or (handle.pid is not None and group_alive(handle.pid))


def _still_running(handle: ProcessHandle) -> list[str]:
    """The op's processes still alive: its group's and those found by its token."""
    seen: dict[int, str] = {}
    for proc in processes_with_token(handle.token):
        seen[proc.pid] = describe(proc)
    if handle.pid is not None:
        for proc in psutil.process_iter(["pid"]):
            try:
                if (
                    proc.pid not in seen
                    and os.getpgid(proc.pid) == handle.pid
                    and proc.status() != psutil.STATUS_ZOMBIE
                ):
                    seen[proc.pid] = describe(proc)
            except (psutil.Error, OSError):
                continue
    return list(seen.values())


def _fmt_seconds(seconds: float) -> str:
    from jobtui.engine.domain.timeparse import format_duration

    return format_duration(seconds)
