"""The keys, footer, help and palette come from one registry: what they show follows remapping, the
language, the job's status and the actor's rights, and refusals are titled as refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from jobtui.app import JobtuiApp
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.states import Status, status_label
from jobtui.engine.errors import Refusal
from jobtui.engine.formats.policy_file import parse_policy
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.commands import BY_ID, COMMANDS
from jobtui.engine.worker.loop import Engine
from jobtui.i18n import t
from jobtui.screens.dialogs import ConfirmDialog, HelpScreen
from jobtui.screens.palette import PaletteCommand
from jobtui.widgets.keybar import KeyBar
from jobtui.widgets.status_style import SYMBOLS
from jobtui.widgets.statusbar import StatusBar
from tests.support.helpers import run_until_status, status_of
from tests.support.pilot import (
    SIZE,
    app_for,
    monitor,
    open_envelopes,
    run_palette_command,
    run_until_ended,
    select_job,
    simple,
    submit_envelope,
    until,
)

Submit = Callable[..., int]

VIEWER_POLICY = """\
[roles.operator]
actions = ["action.job.view_monitor", "action.job.cancel"]
projects = ["*"]

[users]
olga = ["operator"]
"""


def _remap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(text)
    monkeypatch.setenv("JOBTUI_KEYS", str(keys))


async def _open_help(pilot: Pilot[int]) -> HelpScreen:
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), "the help screen")
    screen = pilot.app.screen
    assert isinstance(screen, HelpScreen)
    return screen


async def _palette_entries(pilot: Pilot[int], query: str) -> dict[str, str]:
    """Prompt → help text of the palette's matches for `query`."""
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the command palette")
    await pilot.press(*query)
    palette = pilot.app.screen
    options = palette.query_one(CommandList)
    await until(pilot, lambda: options.option_count > 0, f"palette matches for {query!r}")
    await pilot.pause(0.2)
    entries = {}
    for index in range(options.option_count):
        prompt = options.get_option_at_index(index).prompt
        lines = str(getattr(prompt, "plain", prompt)).splitlines()
        entries[lines[0]] = " ".join(lines[1:])
    return entries


async def test_a_remapped_key_is_shown_by_help_palette_and_footer_in_its_place(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _remap(tmp_path, monkeypatch, '[keys]\napprove = "A"\n')
    job_id = submit('name = "j"\napproval = true\n[[pre]]\nrun = "true"\n[[run]]\nrun = "true"\n')
    run_until_status(engine, job_id, "APPROVAL")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("approve", ()) is True, "approve enabled")
        await pilot.pause(0.1)
        bar = screen.query_one(KeyBar)
        bar.render()
        # Still the first key of the footer, not moved to its end (and off a narrow terminal).
        assert bar._spots[0].key == "A"
        help_screen = await _open_help(pilot)
        rows = dict(help_screen.bindings)
        assert rows["A"] == BY_ID["approve"].description["en"]
        assert "a" not in rows
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the monitor")
        entries = await _palette_entries(pilot, "Approve")
        assert "Approve (A)" in entries
        assert entries["Approve (A)"] == BY_ID["approve"].description["en"]


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_help_names_every_key_readably_and_explains_the_status_symbols(store: Store, lang: str) -> None:
    async with app_for(store, lang=lang).run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        help_screen = await _open_help(pilot)
        rows = dict(help_screen.bindings)
        keys = " ".join(rows)
        for readable in ("/", "?", ">", "<", "P", "C", "q", "Ctrl+P", "Tab", "PgUp", "Esc"):
            assert readable in keys, f"{readable!r} not in help: {keys}"
        for textual_name in ("slash", "question_mark", "greater_than_sign", "less_than_sign"):
            assert textual_name not in keys
        assert rows["/"] == BY_ID["filter"].description[lang]
        legend = dict(help_screen.legend)
        assert len(legend) == len(Status) == 16
        for status in Status:
            assert legend[SYMBOLS[status]] == status_label(status, lang)


async def test_the_palette_describes_each_command(store: Store, submit: Submit) -> None:
    job_id = submit(simple("described"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        entries = await _palette_entries(pilot, "Audit")
        assert entries["Audit (u)"] == BY_ID["audit"].description["en"]
        assert all(help_text != "Monitor action" for help_text in entries.values())


async def test_the_palette_lists_the_commands_the_job_refuses_after_the_others_with_why(
    store: Store, submit: Submit, engine: Engine
) -> None:
    """A finished job cannot be approved: Approve is in the palette all the same, marked, with the
    engine's reason, after every command that may run (it was left out, and the operator left guessing)."""
    job_id = submit(simple("done"))
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("approve", ()) is None, "approve dimmed")
        entries = await _palette_entries(pilot, "")
        refused = [title for title in entries if title.endswith("· not available")]
        assert "Approve (a)  · not available" in refused
        assert (
            entries["Approve (a)  · not available"]
            == f"approve: job {job_id} is FINISHED; allowed from APPROVAL"
        )
        assert entries["Delete (d)"] == BY_ID["delete"].description["en"]  # one it allows, as before
        titles = list(entries)
        assert titles[-len(refused) :] == refused  # every command that may run comes first
        # Searched for, it is found too, after every match that may run (Rerun and Reverse sort match "re").
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the monitor")
        searched = list(await _palette_entries(pilot, "re"))
        marked = [title.endswith("· not available") for title in searched]
        assert "Approve (a)  · not available" in searched and "Rerun (r)" in searched
        assert marked == sorted(marked)  # False (may run) before True (refused)


@pytest.mark.parametrize(
    ("lang", "searches"),
    [
        (
            "en",
            {"skip": "Trap (t)", "abort": "Trap (t)", "trap retry": "Trap (t)", "resume": "Trap pause (p)"},
        ),
        ("es", {"saltar": "Captura (t)", "abortar": "Captura (t)", "reanudar": "Pausar captura (p)"}),
    ],
)
async def test_the_palette_finds_a_command_by_the_words_of_what_it_does(
    store: Store, submit: Submit, engine: Engine, lang: str, searches: dict[str, str]
) -> None:
    """Only "Trap" found the trap's actions: "skip" and "abort", the dialog's own choices, found nothing.
    On a trapped job "retry" offers Trap first: Retry (y), named so, is refused there."""
    job_id = submit('name = "t"\n[[run]]\nrun = "false"\non_error = "trap"\n')
    run_until_status(engine, job_id, "TRAPPED")
    async with app_for(store, lang=lang).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("trap", ()) is True, "trap enabled")
        for query, title in searches.items():
            entries = list(await _palette_entries(pilot, query))
            assert title in entries, (query, entries)
            await pilot.press("escape")
            await until(pilot, lambda: pilot.app.screen is screen, "the monitor")
        named = list(await _palette_entries(pilot, "retry" if lang == "en" else "reintentar"))
        assert named[0] == ("Trap (t)" if lang == "en" else "Captura (t)"), named
        assert len(named) == 2 and named[1].startswith("Retry (y)" if lang == "en" else "Reintentar (y)")


async def test_typing_in_the_palette_reads_the_commands_once_as_it_opens(
    store: Store, submit: Submit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused command's reason may take a database read (an envelope's rollback): over a slow link,
    each key typed in the palette read them again on the UI thread (twice: the allowed, then the refused)."""
    job_id = submit(simple("typed"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        reads: list[int] = []
        real = screen.palette_commands

        def counted() -> list[PaletteCommand]:
            reads.append(1)
            return real()

        monkeypatch.setattr(screen, "palette_commands", counted)
        entries = await _palette_entries(pilot, "audit")
        assert "Audit (u)" in entries
        assert len(reads) == 1
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, "the monitor")
        await _palette_entries(pilot, "rerun")  # opened again: read again, once
        assert len(reads) == 2


async def test_choosing_a_refused_command_in_the_palette_says_why_and_does_nothing(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(simple("done"))
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("cancel", ()) is None, "cancel dimmed")
        await run_palette_command(pilot, "Cancel (c)")
        await until(pilot, lambda: len(pilot.app._notifications) > 0, "the refusal")
        refusal = list(pilot.app._notifications)[-1]
        assert refusal.title == "Not allowed: Cancel"
        assert refusal.message.startswith(f"cancel: job {job_id} is FINISHED; allowed from ")
        await pilot.pause(0.2)
        assert pilot.app.screen is screen  # no question asked: nothing to confirm
        assert status_of(store, job_id) == "FINISHED"


async def test_in_the_envelopes_view_the_palette_says_why_an_envelope_may_not_be_rolled_back(
    store: Store, actions: Actions, engine: Engine, tmp_path: Path
) -> None:
    older, older_jobs = submit_envelope(actions, tmp_path / "r1", "r1", {"one": "true"})
    newer, newer_jobs = submit_envelope(actions, tmp_path / "r2", "r2", {"two": "true"})
    run_until_ended(engine, *older_jobs, *newer_jobs)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await open_envelopes(pilot)
        screen = monitor(pilot)
        await until(pilot, lambda: screen.check_action("rollback", ()) is True, "b enabled on r2")
        await pilot.press("down")  # r2 is folded: the next line is r1
        await until(pilot, lambda: screen.check_action("rollback", ()) is None, "b dimmed on r1")
        entries = await _palette_entries(pilot, "Roll back")
        assert entries["Roll back envelope (b)  · not available"] == (
            f"envelope-rollback: envelope {older} (r1): envelope {newer} (r2) of project payments is newer "
            "and not rolled back; roll it back first"
        )


async def test_the_queue_keys_are_dimmed_and_refused_without_the_queue_admin_right(store: Store) -> None:
    olga = Actor("olga", parse_policy(VIEWER_POLICY, "policy.toml"))
    app = JobtuiApp(store, olga, embedded=False, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        await pilot.pause(0.2)
        for key in ("P", "C"):
            assert screen.active_bindings[key].enabled is False, f"{key} must be dimmed"
        await pilot.press("P")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmDialog)  # refused at once, nothing asked
        await until(pilot, lambda: len(app._notifications) > 0, "the refusal")
        refusal = list(app._notifications)[-1]
        assert refusal.title == "Not allowed: Pause queue"
        assert "olga lacks action.queue.admin" in refusal.message


async def test_the_spanish_dashboard_says_a_missing_right_in_spanish(store: Store, submit: Submit) -> None:
    """It said the engine's English ("delete: olga lacks action.job.delete on project default")."""
    job_id = submit(simple("queued"))
    olga = Actor("olga", parse_policy(VIEWER_POLICY, "policy.toml"))
    app = JobtuiApp(store, olga, embedded=False, tz="UTC", lang="es")
    async with app.run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("P")
        await until(pilot, lambda: len(app._notifications) > 0, "the refusal")
        assert list(app._notifications)[-1].message == (
            "Pausar cola: olga no tiene el permiso action.queue.admin en el proyecto *"
        )
        screen = monitor(pilot)
        assert screen.refusal("delete") == (
            "Borrar: olga no tiene el permiso action.job.delete en el proyecto default"
        )
        assert screen.refusal("approve") == (
            "Aprobar: olga no tiene el permiso action.job.approve_all en el proyecto default "
            "ni está entre los aprobadores del pase"
        )


async def test_a_refused_job_key_is_titled_as_a_refusal(store: Store, submit: Submit, engine: Engine) -> None:
    """And says why in the dashboard's language: the Spanish one said it in English, with status codes
    ("approve: job 1 is FINISHED; allowed from APPROVAL", the CLI's words)."""
    job_id = submit(simple("done"))
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store, lang="es").run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("a")
        await until(pilot, lambda: len(pilot.app._notifications) > 0, "the refusal")
        refusal = list(pilot.app._notifications)[-1]
        assert refusal.title == f"No permitido: {BY_ID['approve'].label['es']}"
        assert refusal.message == (
            f"Aprobar: el pase {job_id} está Finalizado; se permite desde Pendiente de aprobación"
        )
        assert status_of(store, job_id) == "FINISHED"
        # `t` is three actions (retry, skip, abort): every status they work from, once each.
        assert monitor(pilot).refusal("trap") == (
            f"Captura: el pase {job_id} está Finalizado; se permite desde Capturado, Capturado en pausa"
        )
        # Refused by the engine when the action runs (the footer's state was older): said the same way.
        monitor(pilot).perform("-", monitor(pilot).actions.reschedule, job_id, "+1h", command="reschedule")
        await until(pilot, lambda: len(pilot.app._notifications) > 1, "the engine's refusal")
        assert list(pilot.app._notifications)[-1].message == (
            f"Replanificar: el pase {job_id} está Finalizado; "
            "se permite desde Listo, Pendiente de aprobación, Expirado"
        )


async def test_clearing_the_queue_says_how_many_jobs_it_canceled(store: Store, submit: Submit) -> None:
    ids = [submit(simple(f"queued-{n}")) for n in range(3)]
    async with app_for(store).run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), "the question")
        await pilot.press("y")
        await until(pilot, lambda: all(status_of(store, i) == "CANCELED" for i in ids), "the jobs canceled")
        await until(
            pilot,
            lambda: any(n.message == "Queue cleared: 3 jobs canceled" for n in pilot.app._notifications),
            "the toast with the count",
        )


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("lang", ["en", "es"])
async def test_the_footer_shows_whole_keys_only_however_wide_the_terminal(
    store: Store, lang: str, readonly: bool
) -> None:
    """At 120 columns read-only the footer ended in "! At": a key's word is whole or the key is left off."""
    words = {command.label[lang] for command in COMMANDS} | {t("palette.quit", lang)}
    async with app_for(store, lang=lang, readonly=readonly).run_test(size=(80, 24)) as pilot:
        bar = monitor(pilot).query_one(KeyBar)
        for width in (80, 100, 120, 140, 160, 400):
            await pilot.resize_terminal(width, 24)
            await until(pilot, lambda w=width: len(bar.render().plain) == w, f"the footer at {width} columns")
            text = bar.render().plain
            keys = [text[spot.start : spot.end].strip() for spot in bar._spots[:-1]]  # the palette last
            assert keys, (width, text)
            for key in keys:
                assert key.split(" ", 1)[1] in words, (width, key, text)
            assert text[bar._spots[-2].end : bar._spots[-1].start].strip() == "", (width, text)
    assert f"q {t('palette.quit', lang)}" in keys, text  # the app's own key speaks the language too


async def test_a_narrow_footer_shows_the_keys_that_act_before_the_dimmed_ones(
    store: Store, submit: Submit, engine: Engine, actions: Actions
) -> None:
    """Found by an operator: at 120 columns the footer ended in the dimmed keys of the job under the
    cursor (approve, reject… of a finished job) and never showed "Resume queue" while the queue was paused."""
    job_id = submit(simple("done"))
    run_until_status(engine, job_id, "FINISHED")
    actions.queue_pause("db maintenance")
    async with app_for(store).run_test(size=(120, 40)) as pilot:
        await select_job(pilot, job_id)
        screen, bar = monitor(pilot), monitor(pilot).query_one(KeyBar)
        await until(pilot, lambda: screen.check_action("rerun", ()) is True, "the job's keys")
        await until(pilot, lambda: "Resume queue" in bar.render().plain, "Resume queue in the footer")
        assert all(spot.enabled for spot in bar._spots), bar.render().plain
        assert "Approve" not in bar.render().plain
        await pilot.resize_terminal(400, 40)  # room for every key: the dimmed ones keep their places
        await until(pilot, lambda: "Approve" in bar.render().plain, "every key")
        assert not all(spot.enabled for spot in bar._spots)


def test_every_footer_command_has_a_place_in_the_footer_order() -> None:
    from jobtui.screens.bindings import footer_order

    assert footer_order() == [command.id for command in COMMANDS]


async def test_a_refused_key_leaves_a_refused_row_in_the_audit_tab(
    store: Store, submit: Submit, engine: Engine
) -> None:
    from textual.widgets import DataTable

    job_id = submit(simple("done"))
    run_until_status(engine, job_id, "FINISHED")
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        screen = monitor(pilot)
        # The footer dims `a`, but the engine is the judge: the refusal is audited where the action runs.
        screen.perform("approved", screen.actions.approve, job_id, command="approve")
        table = screen.query_one("#audit-table", DataTable)

        def refused_row() -> bool:
            cells = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
            return any(row[2] == "approve REFUSED" and "FINISHED" in row[4] for row in cells)

        await until(pilot, refused_row, "the refused approve in the audit tab")
        assert status_of(store, job_id) == "FINISHED"


def _refused_rows(store: Store, job_id: int) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from jobtui.engine.db.models import AUDIT

    with store.engine.connect() as conn:
        rows = conn.execute(
            select(AUDIT.c.who, AUDIT.c.action, AUDIT.c.comment)
            .where(AUDIT.c.job_id == job_id, AUDIT.c.refused.is_(True))
            .order_by(AUDIT.c.id)
        ).all()
    return [(row.who, row.action, row.comment) for row in rows]


async def test_a_dimmed_key_pressed_is_recorded_in_the_job_trail_once_while_held(
    store: Store, submit: Submit, engine: Engine
) -> None:
    """The CLI's refusals were recorded, the dashboard's only said: an operator's refused attempt left no
    trace."""
    job_id = submit(simple("done"))
    run_until_status(engine, job_id, "FINISHED")
    olga = Actor("olga", parse_policy(VIEWER_POLICY, "policy.toml"))
    async with JobtuiApp(store, olga, embedded=False, tz="UTC").run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        for _ in range(3):  # a held key
            await pilot.press("d")
        await pilot.press("a")
        await pilot.press("P")
        await until(pilot, lambda: len(_refused_rows(store, job_id)) == 2, "both refusals recorded")
        await until(pilot, lambda: len(_refused_rows(store, 0)) == 1, "the queue's refusal recorded")
        await pilot.pause(0.2)
    assert _refused_rows(store, job_id) == [
        ("olga", "delete", "delete: olga lacks action.job.delete on project default"),
        (
            "olga",
            "approve",
            "approve: olga lacks action.job.approve_all on project default and is not a listed approver",
        ),
    ]
    assert _refused_rows(store, 0) == [
        # Named as the CLI's refusal of `jobtui queue pause` is.
        ("olga", "queue pause", "pause queue: olga lacks action.queue.admin on project *")
    ]
    assert status_of(store, job_id) == "FINISHED"


async def test_refused_queue_keys_are_recorded_as_the_clis_refusals_of_the_same_commands(
    store: Store, actions: Actions
) -> None:
    """`P` on a paused queue asks to resume it, `C` to clear it: each refusal is in the queue's trail under
    the action the CLI's refusal of `jobtui queue resume` / `queue clear` is."""
    actions.queue_pause("night")
    olga = Actor("olga", parse_policy(VIEWER_POLICY, "policy.toml"))
    async with JobtuiApp(store, olga, embedded=False, tz="UTC").run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "night" in str(monitor(pilot).query_one(StatusBar).render()), "the pause")
        await pilot.press("P")
        await until(pilot, lambda: len(_refused_rows(store, 0)) == 1, "the resume's refusal recorded")
        await pilot.press("C")
        await until(pilot, lambda: len(_refused_rows(store, 0)) == 2, "the clear's refusal recorded")
    assert [action for _, action, _ in _refused_rows(store, 0)] == ["queue resume", "queue clear"]
    for call in (Actions(store, olga).queue_resume, Actions(store, olga).queue_clear):
        with pytest.raises(Refusal):
            call()
    assert [action for _, action, _ in _refused_rows(store, 0)[2:]] == ["queue resume", "queue clear"]


async def test_the_pause_key_says_resume_queue_while_the_queue_is_paused(
    store: Store, actions: Actions
) -> None:
    """`P` resumes a paused queue: its footer label, its palette entry and its refusal said "Pause queue"
    all the same."""
    olga = Actor("olga", parse_policy(VIEWER_POLICY, "policy.toml"))
    async with JobtuiApp(store, olga, embedded=False, tz="UTC").run_test(size=SIZE) as pilot:
        screen = monitor(pilot)
        await pilot.pause(0.1)
        assert screen.active_bindings["P"].binding.description == "Pause queue"
        actions.queue_pause("night")
        screen.wake(force=True)
        await until(pilot, lambda: "night" in str(screen.query_one(StatusBar).render()), "the pause")
        await until(pilot, lambda: screen.active_bindings["P"].binding.description == "Resume queue", "P")
        assert "Resume queue (P)" in [command.title for command in screen.palette_commands()]
        await pilot.press("P")
        await until(pilot, lambda: len(pilot.app._notifications) > 0, "the refusal")
        assert list(pilot.app._notifications)[-1].title == "Not allowed: Resume queue"
        actions.queue_resume()
        screen.wake(force=True)
        await until(pilot, lambda: screen.active_bindings["P"].binding.description == "Pause queue", "P")
