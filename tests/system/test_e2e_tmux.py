"""End to end: the real `jobtui` in a real terminal (tmux) against a real daemon process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from tests.support.helpers import ROOT, definition, status_of, wait_for
from tests.support.template_db import migrated_sqlite

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    def __init__(self, name: str, socket: str) -> None:
        self.name = name
        self.socket = socket

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, check=True)
        return done.stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for_text(self, text: str, timeout: float = 20.0) -> None:
        try:
            wait_for(lambda: text in self.screen(), timeout=timeout, what=f"{text!r} on screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen shows:\n{self.screen()}") from None


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Store, Terminal]]:
    db = migrated_sqlite(tmp_path / "jobs.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBTUI_")}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color", JOBTUI_KEYS=str(tmp_path / "no-keys.toml"))
    # A pager that keeps what it was given (test_o_opens_the_whole_log_in_the_pager).
    pager = tmp_path / "pager.sh"
    kept = tmp_path / "paged"
    pager.write_text(f'#!/bin/sh\ncp "$1" {kept}.tmp && mv {kept}.tmp {kept}.log\n')
    pager.chmod(0o755)
    env["PAGER"] = str(pager)
    store = Store(db)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "jobtui.cli", "daemon", "--db", db], env=env, stderr=subprocess.DEVNULL
    )
    from jobtui.app import live_daemon_host
    from jobtui.engine.read.listing import JobListing

    listing = JobListing(store.reader)
    wait_for(lambda: live_daemon_host(listing, store.now()) is not None, what="the daemon to register")
    socket = str(tmp_path / "tmux.sock")
    term = Terminal("jobtui", socket)
    command = f"{sys.executable} -m jobtui.cli --db {db}"
    subprocess.run(
        ["tmux", "-S", socket, "new-session", "-d", "-s", term.name, "-x", "170", "-y", "45", command],
        env=env,
        check=True,
    )
    try:
        yield store, term
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)
        daemon.send_signal(signal.SIGINT)
        daemon.send_signal(signal.SIGINT)
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()


@pytest.mark.slow
def test_approve_a_waiting_job_and_skip_a_trap_from_the_keyboard(setup: tuple[Store, Terminal]) -> None:
    store, term = setup
    actions = Actions(store, Actor("e2e"))
    waiting = actions.submit(
        definition(
            'name = "release-db"\napproval = true\n[[pre]]\nrun = "true"\n[[run]]\nrun = "echo migrated"\n'
        )
    )
    trapped = actions.submit(
        definition('name = "patch-rt"\n[[run]]\nrun = "exit 3"\non_error = "trap"\n[[run]]\nrun = "true"\n')
    )
    wait_for(
        lambda: status_of(store, waiting) == "APPROVAL" and status_of(store, trapped) == "TRAPPED",
        what="the daemon to park both jobs",
    )

    term.wait_for_text("engine: daemon on")
    term.wait_for_text("Waiting for Approval")
    term.keys("/")
    term.wait_for_text("Filter: name")
    term.type("release-db")
    term.keys("Enter")
    term.wait_for_text(f"#{waiting} release-db")
    term.keys("a")
    term.wait_for_text("Approve this job?")
    term.keys("y")
    wait_for(lambda: status_of(store, waiting) == "FINISHED", what="the approved job to finish")
    term.wait_for_text("✔ Finished")

    term.keys("Escape")  # clears the filter: every job is listed again
    term.wait_for_text("⚠ Trapped")
    term.keys("/")
    term.wait_for_text("Filter: name")
    term.type("patch-rt")
    term.keys("Enter")
    term.wait_for_text(f"#{trapped} patch-rt")
    term.keys("t")
    term.wait_for_text(f"Trapped job #{trapped}")
    term.keys("Enter")  # no comment
    term.keys("s")
    try:
        wait_for(lambda: status_of(store, trapped) == "FINISHED", what="the skipped trap to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen shows:\n{term.screen()}") from None
    term.wait_for_text("✔ Finished")


def test_a_filter_typed_in_one_burst_after_slash_never_acts_on_the_job(setup: tuple[Store, Terminal]) -> None:
    """`/` and the filter text arrive in one read of the terminal (a paste, SSH batching) on a job waiting for
    approval: every key after `/` goes into the filter box, none to the job keys (`a` approves, `p`
    trap-pauses, `c` cancels)."""
    store, term = setup
    actions = Actions(store, Actor("e2e"))
    other = actions.submit(definition('name = "other"\n[[run]]\nrun = "true"\n'))
    waiting = actions.submit(definition('name = "apache-cap"\napproval = true\n[[run]]\nrun = "true"\n'))
    wait_for(
        lambda: status_of(store, waiting) == "APPROVAL" and status_of(store, other) == "FINISHED",
        what="the daemon to park the job",
    )
    term.wait_for_text("engine: daemon on")
    term.wait_for_text(f"#{waiting} apache-cap  [job]")  # the newest job: the one under the cursor
    term.wait_for_text("Waiting for Approval")
    term.type("/apache-cap")

    def filtered() -> bool:
        lines = term.screen().splitlines()
        # The box's line, between its borders: the whole text, nothing lost to a job key.
        boxed = [line.strip("▊▎ ") for line in lines if line.startswith("▊")]
        return "apache-cap" in boxed and not any(line.split()[:2] == [str(other), "other"] for line in lines)

    try:
        wait_for(filtered, what="the whole text in the filter box, and the filtered table")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen shows:\n{term.screen()}") from None
    assert status_of(store, waiting) == "APPROVAL", term.screen()
    term.keys("Enter")
    term.wait_for_text(f"#{waiting} apache-cap")
    assert status_of(store, waiting) == "APPROVAL", term.screen()


def test_o_opens_the_whole_log_in_the_pager_and_the_viewer_comes_back(
    setup: tuple[Store, Terminal], tmp_path: Path
) -> None:
    store, term = setup
    actions = Actions(store, Actor("e2e"))
    op = "seq 1 3000; printf '\\\\033[31mred\\\\n'; echo oops >&2"
    job_id = actions.submit(definition(f'name = "chatty"\n[[run]]\nrun = "{op}"\n'))
    wait_for(lambda: status_of(store, job_id) == "FINISHED", what="the job to finish")
    term.wait_for_text("chatty")
    term.keys("l")
    term.wait_for_text(f"Log #{job_id} chatty")
    term.wait_for_text("the job ended")
    term.keys("o")
    paged = tmp_path / "paged.log"
    wait_for(paged.exists, what="the pager to be given the log")
    text = paged.read_text()
    # The whole log, not the viewer's window of it; cleaned for a terminal; the stderr mark taken out.
    assert "\n1\n2\n3\n" in text and "\n3000\nred\noops\n" in text
    assert "\x1b" not in text
    term.wait_for_text(f"Log #{job_id} chatty")  # the dashboard is back, on the viewer
