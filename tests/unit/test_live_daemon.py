"""Which worker row is a live daemon: a fresh heartbeat is not enough when the process is known gone."""

from __future__ import annotations

from datetime import UTC, datetime

from jobtui.engine.domain.engine_kinds import DASHBOARD_ENGINE
from jobtui.engine.read.listing import WorkerBeat, live_daemon

HERE = "here"
BEAT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _beat(id_: str, host: str = HERE, pid: int = 100, created: float = 1.0) -> WorkerBeat:
    return WorkerBeat(id_, host, pid, created, BEAT)


def _alive(pid: int, created: float, started: str | None) -> bool:
    return (pid, created) == (100, 1.0)


def test_a_live_process_on_this_host_is_the_daemon() -> None:
    assert live_daemon([_beat("a")], HERE, _alive) == _beat("a")


def test_a_dead_or_reused_pid_on_this_host_is_skipped_for_the_next_candidate() -> None:
    dead, reused, live = _beat("dead", pid=7), _beat("reused", created=2.0), _beat("live")
    assert live_daemon([dead, reused, live], HERE, _alive) == live
    assert live_daemon([dead, reused], HERE, _alive) is None


def test_another_hosts_row_is_judged_by_its_heartbeat_alone() -> None:
    other = _beat("other", host="there", pid=7)
    assert live_daemon([other], HERE, _alive) == other


def test_the_askers_own_engine_is_no_daemon() -> None:
    assert live_daemon([_beat("mine")], HERE, _alive, exclude="mine") is None


def test_no_candidates_no_daemon() -> None:
    assert live_daemon([], HERE, _alive) is None


def test_a_daemon_of_this_host_is_named_before_one_of_another_host() -> None:
    """Found by a multi-host probe: the header named the other host's daemon while this host's served."""
    there, here = _beat("there", host="there"), _beat("here")
    assert live_daemon([there, here], HERE, _alive) == here
    # A daemon of any host before a dashboard's engine of this one: a dashboard's stops when it closes.
    mine = WorkerBeat("dash", HERE, 100, 1.0, BEAT, kind=DASHBOARD_ENGINE)
    assert live_daemon([mine, there], HERE, _alive) == there
