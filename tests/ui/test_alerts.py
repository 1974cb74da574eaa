"""Alerts: a job entering a status that needs a person rings the bell, sends a desktop notification (OSC 9
and OSC 777) and shows a toast; never more than one a second; `--no-alerts` and `[alerts]` turn them off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from sqlalchemy import update
from textual.pilot import Pilot

from jobtui.engine.db.models import JOBS
from jobtui.engine.db.store import Store
from jobtui.engine.domain.alerting import EXPECTED_FOR_S, AlertGate, AlertSettings, Entered
from jobtui.engine.worker.loop import Engine
from jobtui.screens.alerts import desktop_notification
from jobtui.widgets.job_table import JobTable
from tests.support.helpers import run_until_status
from tests.support.pilot import app_for, monitor, simple, until

Submit = Callable[..., int]


def terminal_output(pilot: Pilot[int]) -> list[str]:
    """What the app writes to its terminal from now on (the headless driver's writes, recorded)."""
    written: list[str] = []
    driver = pilot.app._driver
    assert driver is not None
    original = driver.write

    def write(data: str) -> None:
        written.append(data)
        original(data)

    driver.write = write  # type: ignore[method-assign]
    return written


def toasts(pilot: Pilot[int]) -> list[str]:
    return [str(n.message) for n in pilot.app._notifications]


def poller_looked(pilot: Any) -> Callable[[], bool]:
    """Whether the poller took the feed's seq: what enters an alerting status from now on is news."""
    return lambda: monitor(pilot)._poller._alert_seq is not None


async def test_a_job_that_traps_rings_the_bell_notifies_the_desktop_and_toasts_naming_it(
    store: Store, submit: Submit, engine: Engine
) -> None:
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        written = terminal_output(pilot)
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 0 and monitor(pilot).alert_statuses() != frozenset())
        await until(pilot, poller_looked(pilot), "the poller's first look at the feed")  # what comes is news
        job = submit('name = "patch-routers"\n[[run]]\nrun = "exit 1"\non_error = "trap"\n')
        run_until_status(engine, job, "TRAPPED")
        await until(pilot, lambda: any("\x1b]9;" in chunk for chunk in written), "the desktop notification")
        out = "".join(written)
        said = f"Job {job} patch-routers: Trapped"
        assert "\a" in out and f"\x1b]9;jobtui: needs attention: {said}\x07" in out
        assert f"\x1b]777;notify;jobtui: needs attention;{said}\x07" in out
        # The toast is a message the app handles after the write: waited for, not assumed.
        await until(pilot, lambda: any(said in toast for toast in toasts(pilot)), "the toast")


async def test_a_burst_is_one_alert_that_counts_the_jobs(store: Store, submit: Submit) -> None:
    ids = [submit(simple(f"nightly-{n}")) for n in range(3)]
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        written = terminal_output(pilot)
        table = monitor(pilot).query_one(JobTable)
        await until(pilot, lambda: table.total == 3, "the jobs")
        await until(pilot, poller_looked(pilot), "the poller's first look at the feed")
        with store.write() as s:  # all three fail in one transaction, as one engine pass would record them
            seqs = store.touch_many(s, ids)
            for job_id in ids:
                s.execute(
                    update(JOBS)
                    .where(JOBS.c.id == job_id)
                    .values(status="ERROR", status_since=store.now(), seq=seqs[job_id])
                )
        await until(pilot, lambda: any("\x1b]9;" in chunk for chunk in written), "the desktop notification")
        await pilot.pause(0.5)
        out = "".join(written)
        # One alert: one bell (BEL, also what ends each OSC), one of each notification.
        assert out.count("\x1b]9;") == 1 and out.count("\x1b]777;") == 1 and out.count("\a") == 3, out
        assert "3 jobs need attention" in out


async def test_no_alerts_means_no_bell_no_notification_and_no_toast(
    store: Store, submit: Submit, engine: Engine
) -> None:
    async with app_for(store, alerts=AlertSettings(enabled=False)).run_test(size=(120, 30)) as pilot:
        written = terminal_output(pilot)
        screen = monitor(pilot)
        await pilot.pause(0.3)
        job = submit('name = "patch"\n[[run]]\nrun = "exit 1"\non_error = "trap"\n')
        run_until_status(engine, job, "TRAPPED")
        await until(pilot, lambda: screen.query_one(JobTable).total == 1, "the trapped job listed")
        await pilot.pause(0.5)
        assert "\x1b]9;" not in "".join(written) and "\a" not in "".join(written)  # no bell either
        assert not any("patch" in toast for toast in toasts(pilot))


async def test_a_job_that_needed_attention_before_the_dashboard_opened_is_no_news(
    store: Store, submit: Submit
) -> None:
    job = submit(simple("old-failure"))
    with store.write() as s:
        s.execute(update(JOBS).where(JOBS.c.id == job).values(status="ERROR", status_since=store.now()))
    store.clock.advance(60)  # type: ignore[attr-defined]
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        written = terminal_output(pilot)
        await until(pilot, poller_looked(pilot), "the poller's first look at the feed")
        with store.write() as s:
            store.touch(s, job)  # it changes again (a comment, a countdown) without entering ERROR anew
        await until(pilot, lambda: monitor(pilot).query_one(JobTable).total == 1, "the job")
        await pilot.pause(0.5)
        assert "\x1b]9;" not in "".join(written)


def test_the_gate_lets_one_alert_a_second_and_tells_each_entry_once() -> None:
    gate = AlertGate(interval_s=1.0)
    first = Entered(1, "a", "ERROR", None)
    gate.offer([first])
    assert gate.due(10.0) == [first]
    gate.offer([first])  # seen again: already told
    gate.offer([Entered(2, "b", "TRAPPED", None), Entered(3, "c", "ABEND", None)])
    assert gate.due(10.5) == []  # within the second: they wait
    assert [e.job_id for e in gate.due(11.0)] == [2, 3]  # then go as one
    gate.offer([Entered(1, "a", "APPROVAL", None)])  # the same job entering another status is news
    assert [e.job_id for e in gate.due(12.0)] == [1]


def test_an_entry_the_operator_caused_is_no_news_to_them() -> None:
    """Resuming a paused trap from the dashboard put it back in TRAPPED, and the dashboard alerted its own
    operator that the job needed them."""
    gate = AlertGate(interval_s=1.0)
    gate.expect(7, "TRAPPED", now=100.0)
    gate.offer([Entered(7, "patch", "TRAPPED", None)], now=101.0)
    assert gate.due(101.0) == []
    # Once: the next time it traps (after a retry) is news again, as is another job.
    gate.offer(
        [
            Entered(7, "patch", "TRAPPED", pendulum.datetime(2026, 12, 6, 9)),
            Entered(8, "other", "TRAPPED", None),
        ],
        now=102.0,
    )
    assert [e.job_id for e in gate.due(102.0)] == [7, 8]
    # An expectation left over (the resume was refused) lapses.
    gate.expect(9, "TRAPPED", now=200.0)
    gate.offer([Entered(9, "late", "TRAPPED", None)], now=200.0 + EXPECTED_FOR_S + 1)
    assert [e.job_id for e in gate.due(300.0)] == [9]


def test_a_desktop_notification_carries_no_control_character_of_a_job_name() -> None:
    sequence = desktop_notification("jobtui", "Job 1 evil\x1b]0;pwned\x07\x1b[2J: Error")
    assert sequence.count("\x1b") == 2 and sequence.count("\x07") == 2  # its own two sequences only
    assert "pwned" in sequence  # shown as text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[alerts]\nenabled = 1\n", "[alerts] enabled must be true or false"),
        ('[alerts]\nstatuses = ["TRAPPED", "BROKEN"]\n', '[alerts] statuses: unknown status "BROKEN"'),
        ("[alerts]\nsound = true\n", '[alerts]: unknown setting "sound"'),
    ],
)
def test_a_bad_alerts_section_names_the_file_and_the_field(tmp_path: Path, text: str, problem: str) -> None:
    from jobtui.config import ConfigError, load_config

    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(path) in str(refused.value) and problem in str(refused.value)


def test_the_alerts_section_chooses_the_statuses_or_turns_alerts_off(tmp_path: Path) -> None:
    from jobtui.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('[alerts]\nstatuses = ["trapped", "ABEND"]\n')
    assert load_config(path).alerts == AlertSettings(True, frozenset({"TRAPPED", "ABEND"}))
    path.write_text("[alerts]\nenabled = false\n")
    assert not load_config(path).alerts.enabled
    assert load_config(tmp_path / "none.toml").alerts == AlertSettings()
