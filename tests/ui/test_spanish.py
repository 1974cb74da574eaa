"""In Spanish every word on screen is Spanish: the test walks every screen and fails on an English UI word.

How it reads the screen: each screen on the stack is rendered by its own compositor
(`screen._compositor.render_strips()`, what Textual paints to the terminal) and the text of the
segments of each line is joined, so the words are the ones a user sees, whatever widget drew them
(footer, tables, tabs, toasts, the command palette). A modal screen draws over the monitor, which the
test has already read, so only the top screen is read at each stop.

The data is neutral (job names "j1", ops that print digits) so that only the dashboard's own words can
trip the list. Words that are also Spanish, product words kept in Spanish (Log, Rollback, worker,
Abend), step names (PRE/RUN/POST) and key names are not on the list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.screen import Screen

from jobtui.engine.db.store import Store
from jobtui.engine.service.actions import Actions
from jobtui.engine.worker.loop import Engine
from jobtui.screens.monitor import MonitorScreen
from tests.support.helpers import run_until_status
from tests.support.pilot import (
    SIZE,
    app_for,
    monitor,
    open_envelopes,
    run_until_ended,
    select_job,
    submit_envelope,
    until,
)

Submit = Callable[..., int]

# English words the dashboard could show. Case-sensitive, whole words.
ENGLISH = """
    ago in now seconds minutes hours days second minute hour day left forever timed out
    Yes yes Cancel cancel Canceled Cancelled Close close Confirm confirm Delete delete Approve approve
    Reject reject Retry retry Skip skip Abort abort Rerun rerun Reschedule reschedule Trap trap
    Pause pause Resume resume Clear clear Freeze freeze Filter filter Sort sort Search search
    Status status Name name Project project Queue queue QUEUE Owner owner Type Progress Scheduled
    Start Started Completed Skipped Comment Action Who At Exit Attempts Next Created Expires
    Natures Window Envelope Envelopes envelope envelopes Job Jobs job jobs Step Steps Tasks Task
    task tasks Notifications notifications Audit Reason Time Keys keys Help help palette Palette
    Quit quit Theme Screenshot Maximize Minimize Command Commands command commands
    Success Succeeded Running running Ready Finished Trapped Waiting Approval Paused paused PAUSED
    RUNNING SUCCEEDED FAILED SCHEDULED RESCHEDULED CANCELLED FINISHED TRAPPED APPROVAL READY
    Failed failed done Done pending Pending skipped succeeded Rescheduled Errors Corrupt Rolled
    engine embedded daemon database live FROZEN read only none
    the The and of to is on for from with not Not all All this This none unknown empty
    warning show hide Show Hide toggle Toggle select Select view View scroll arrows press Press
    Enter enter focused button System hidden shown approved rejected deleted rescheduled retried
    queued cleared allowed selected exec
"""
ENGLISH_WORDS = frozenset(ENGLISH.split())
# What the engine wrote, shown as data and shared with the CLI: left English and left out of the check.
DATA = re.compile(
    "|".join(
        (
            r"\S+://\S+",  # the database URL in the header
            r"…\S+",  # the same, shortened from its start where the header is short of room
            r"\S+@\S+",  # an actor: engine@host
            r"\b(PRE|RUN|POST|ROLLBACK) \S+ \[[^\]]*\]: [^█▊▌▎▉\n]*",  # the engine's lines in a job's log
            r"\bfrom \S+\.toml",  # audit comments the service writes: submitted from a file,
            r"\bworker [0-9a-f]{8}",  # claimed by a worker
            r"\benvelope \S+ [a-z][^█▊▌▎▉\n]*",  # an envelope's notifications
            r"tomorrow \d\d:\d\d(, | o )now",  # the date syntax the reschedule dialog accepts
            r"\b[a-z][a-z ]*: job \d+ [^\n]*",  # a refusal in the engine's words (palette, toasts, CLI)
        )
    )
)
WORD = re.compile(r"[A-Za-zÁÉÍÓÚÑáéíóúñü]+")


def screen_text(screen: Screen[object]) -> str:
    """The text `screen` paints, one line per terminal row."""
    strips = screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def english_in(text: str) -> list[str]:
    return sorted({word for word in WORD.findall(DATA.sub(" ", text)) if word in ENGLISH_WORDS})


def op(name: str, run: str, extra: str = "") -> str:
    return f'name = "{name}"\nproject = "p"\n{extra}\n[[run]]\nrun = "{run}"\nrollback = "true"\n'


class Walk:
    """The screens seen so far, and the English found on each."""

    def __init__(self, pilot: Pilot[int]) -> None:
        self.pilot = pilot
        self.found: dict[str, list[str]] = {}
        self.seen: list[str] = []

    async def look(self, where: str) -> None:
        await self.pilot.pause(0.1)
        text = screen_text(self.pilot.app.screen)
        self.seen.append(where)
        words = english_in(text)
        if words:
            self.found[where] = words

    async def palette(self) -> None:
        """Open the command palette and read every command it offers, scrolled into view or not."""
        pilot = self.pilot
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the command palette")
        options = pilot.app.screen.query_one(CommandList)
        await until(pilot, lambda: options.option_count > 10, "the palette's commands")
        await self.look("command palette")
        prompts = "\n".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))
        words = english_in(prompts)
        if words:
            self.found["command palette, all commands"] = words
        # The finished job's refused commands are listed too, marked in Spanish, and why in Spanish.
        assert "Aprobar (a)  · no disponible\nAprobar: el pase " in prompts
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen), "the palette to close")

    async def dialog(self, key: str, where: str) -> None:
        """Press `key` on the monitor, read the screen it opens, close it with Esc."""
        pilot = self.pilot
        await pilot.press(key)
        await until(pilot, lambda: not isinstance(pilot.app.screen, MonitorScreen), f"{where} to open")
        await self.look(where)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen), f"{where} to close")


@pytest.mark.slow
async def test_every_screen_in_spanish_is_spanish(
    store: Store, submit: Submit, engine: Engine, actions: Actions, tmp_path: Path
) -> None:
    finished = submit(op("j1", "echo 1"))
    trapped = submit(
        'name = "j2"\nproject = "p"\n[[run]]\nrun = "false"\non_error = "trap"\n[[run]]\nrun = "true"\n'
    )
    approval = submit(op("j3", "echo 3", "approval = true"))
    _envelope, members = submit_envelope(actions, tmp_path / "e", "e1", {"k1": "echo 4"}, project="p")
    run_until_status(engine, finished, "FINISHED")
    run_until_status(engine, trapped, "TRAPPED")
    run_until_status(engine, approval, "APPROVAL")
    run_until_ended(engine, *members)
    async with app_for(store, lang="es").run_test(size=SIZE) as pilot:
        walk = Walk(pilot)
        screen = monitor(pilot)

        await select_job(pilot, approval)
        await walk.look("monitor, job waiting for approval")
        await walk.dialog("c", "cancel dialog")
        await walk.dialog("s", "reschedule dialog")
        await pilot.press("a")
        await until(pilot, lambda: not isinstance(pilot.app.screen, MonitorScreen), "the approve dialog")
        await walk.look("approve dialog")
        await pilot.press("y")  # a toast says it is approved
        await until(pilot, lambda: bool(pilot.app._notifications), "the approval toast")
        await walk.look("monitor, approval toast")

        await select_job(pilot, trapped)
        await walk.look("monitor, trapped job")
        await walk.dialog("t", "trap dialog")

        await select_job(pilot, finished)
        await walk.look("monitor, finished job")
        await walk.dialog("d", "delete dialog")
        await walk.dialog("r", "rerun dialog")
        await walk.dialog("b", "rollback dialog")
        await walk.dialog("l", "full log")
        await walk.dialog("u", "audit")
        await walk.dialog("question_mark", "help")
        await walk.palette()

        await open_envelopes(pilot)
        await walk.look("envelopes view")
        await walk.dialog("n", "notifications")
        await walk.dialog("b", "envelope rollback dialog")
        assert screen is monitor(pilot)
    assert len(walk.seen) == 18
    assert not walk.found, "\n".join(f"{where}: {', '.join(words)}" for where, words in walk.found.items())
