"""The registry of operator commands is complete and agrees with the transition table, the monitor and
the CLI: a command declared once works everywhere it is generated."""

from __future__ import annotations

import argparse

import pytest

from jobtui.cli import build_parser
from jobtui.engine.domain.states import ACTIONS, QUEUE_ACTIONS, Status
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.commands import BY_ID, COMMANDS, Acts, cli_commands, enabled_for, refusal_for
from jobtui.screens.bindings import command_bindings
from jobtui.screens.monitor import MonitorScreen


def test_every_command_has_a_unique_id_and_key() -> None:
    ids = [command.id for command in COMMANDS]
    keys = [command.key for command in COMMANDS]
    assert len(set(ids)) == len(ids)
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_every_command_speaks_english_and_spanish(command: object) -> None:
    from jobtui.engine.service.commands import Command

    assert isinstance(command, Command)
    for lang in ("en", "es"):
        assert command.label.get(lang), f"{command.id}: no {lang} label"
        assert command.description.get(lang), f"{command.id}: no {lang} description"
    assert command.label["es"] != command.description["es"]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.acts is not Acts.VIEW], ids=lambda c: c.id)
def test_every_operator_command_has_words_to_be_found_by_in_both_languages(command: object) -> None:
    """The palette finds a command by these beside its label ("skip" finds Trap)."""
    from jobtui.engine.service.commands import Command

    assert isinstance(command, Command)
    for lang in ("en", "es"):
        assert command.words.get(lang, "").split(), f"{command.id}: no {lang} words"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.id)
def test_every_command_has_its_handler_on_the_monitor(command: object) -> None:
    from jobtui.engine.service.commands import Command

    assert isinstance(command, Command)
    action = command.action_name.split("(")[0]
    assert callable(getattr(MonitorScreen, f"action_{action}", None)), f"no action_{action}"


def test_a_job_command_is_allowed_exactly_from_the_statuses_of_its_table_rows() -> None:
    assert BY_ID["approve"].allowed_from == {Status.APPROVAL}
    assert BY_ID["trap"].allowed_from == {Status.TRAPPED, Status.TRAP_PAUSED}
    assert BY_ID["trap_pause"].allowed_from == ACTIONS["trap_pause"].allowed_from | {Status.TRAP_PAUSED}
    for command in COMMANDS:
        for rule in command.rules:
            assert rule in ACTIONS, f"{command.id}: {rule} is not a row of the transition table"


def test_enabled_and_refusal_read_the_services_answer_for_any_of_the_rows() -> None:
    trap = BY_ID["trap"]
    refused = {"trap_retry": "trap retry: job 3 is FINISHED", "trap_skip": "no", "trap_abort": "no"}
    assert not enabled_for(trap, refused)
    assert refusal_for(trap, refused) == "trap retry: job 3 is FINISHED"
    assert enabled_for(trap, {**refused, "trap_skip": None})
    assert not enabled_for(trap, {})  # no job: nothing allowed


def test_bindings_are_generated_with_the_command_ids_and_keys() -> None:
    bindings = {b.id: b for b in command_bindings() if getattr(b, "id", None)}
    for command in COMMANDS:
        binding = bindings[command.id]
        assert binding.key == command.key  # type: ignore[union-attr]
        assert binding.priority == command.opens_input  # type: ignore[union-attr]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", cli_commands(), ids=lambda c: c.id)
def test_every_cli_verb_of_the_registry_is_a_subcommand_run_by_the_service(command: object) -> None:
    from jobtui.engine.service.commands import Command

    assert isinstance(command, Command) and command.cli is not None
    sub = _subcommands()[command.cli.verb]
    options = {option for action in sub._actions for option in action.option_strings}
    positionals = {action.dest for action in sub._actions if not action.option_strings}
    assert "id" in positionals
    for arg in command.cli.args:
        assert arg.name in options or arg.name in positionals, f"{command.cli.verb}: {arg.name} missing"
    assert callable(getattr(Actions, command.cli.verb, None))


def test_the_envelope_keys_are_declared_with_the_envelope_verbs_they_run() -> None:
    """`b` and `c` act on an envelope in the envelopes view: the registry names the subcommand each runs
    there (generated from it, as the job verbs are) and the service call behind it; `c` only on an
    envelope's own line (on a job it cancels the job), `b` anywhere in the envelope."""
    from jobtui.engine.service.commands import envelope_commands
    from jobtui.engine.service.envelope_actions import EnvelopeActions

    verbs = {command.id: command.envelope_cli for command in envelope_commands()}
    assert {command_id: verb.verb for command_id, verb in verbs.items() if verb} == {
        "cancel": "envelope-cancel",
        "rollback": "envelope-rollback",
    }
    assert callable(EnvelopeActions.cancel) and callable(EnvelopeActions.rollback)
    cancel, rollback = BY_ID["cancel"], BY_ID["rollback"]
    assert cancel.label_in("en", envelopes=True) == "Cancel envelope"
    assert (cancel.on_envelope(True, envelope_line=True), cancel.on_envelope(True, envelope_line=False)) == (
        True,
        False,
    )
    assert rollback.on_envelope(True, envelope_line=False) and not rollback.on_envelope(False, False)
    args = build_parser().parse_args(["envelope-cancel", "3", "--comment", "not today"])
    assert (args.id, args.comment) == (3, "not today")
    args = build_parser().parse_args(["envelope-rollback", "3", "--reason", "bad"])
    assert (args.id, args.reason) == (3, "bad")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["envelope-rollback", "3"])  # a reason is required


def test_the_queue_commands_need_the_queue_admin_right() -> None:
    for command_id in ("queue_toggle", "queue_clear"):
        command = BY_ID[command_id]
        assert command.acts is Acts.QUEUE
        assert command.permission is not None and command.permission.value == "action.queue.admin"


def test_the_registry_names_the_queue_actions_its_queue_commands_run_as_the_trail_names_them() -> None:
    """A refused queue key is recorded under the action the CLI's refusal of it is: the registry declares
    them (the dashboard spelled "queue pause", "queue resume", "queue clear" itself)."""
    queue = [command for command in COMMANDS if command.acts is Acts.QUEUE]
    assert sorted(action for command in queue for action in command.queue_actions) == sorted(QUEUE_ACTIONS)
    toggle, clear = BY_ID["queue_toggle"], BY_ID["queue_clear"]
    assert (toggle.audited_action(queue_paused=False), toggle.audited_action(queue_paused=True)) == (
        "queue pause",
        "queue resume",
    )
    assert {clear.audited_action(queue_paused=paused) for paused in (False, True)} == {"queue clear"}
    assert BY_ID["delete"].audited_action() == "delete"  # one row of the table: that row
    assert BY_ID["trap"].audited_action() == "trap"  # several: the label


def _table_refusals(command_id: str, job_id: int, status: Status) -> dict[str, str | None]:
    """What the service says of each action of a command for a job in `status` (the table's refusals)."""
    from jobtui.engine.domain.states import refusal_for_status

    return {rule: refusal_for_status(rule, job_id, status) for rule in BY_ID[command_id].rules}


@pytest.mark.parametrize(
    ("command_id", "allowed_from"),
    [("trap_pause", "TRAPPED, TRAP_PAUSED"), ("trap", "TRAPPED, TRAP_PAUSED")],
)
def test_a_key_of_several_actions_refused_by_status_names_every_status_it_works_from(
    command_id: str, allowed_from: str
) -> None:
    """`p` pauses a trapped job's countdown and resumes a paused one: refused on a running job, its reason
    names both statuses (it said "allowed from TRAPPED", and a Trap Paused job seemed out of reach)."""
    command = BY_ID[command_id]
    reasons = _table_refusals(command_id, 5, Status.RUNNING)
    said = refusal_for(command, reasons, 5, "RUNNING")
    assert said == f"{command_id.replace('_', ' ')}: job 5 is RUNNING; allowed from {allowed_from}"


def test_a_key_of_several_actions_refused_for_another_reason_keeps_the_services_reason() -> None:
    """On a Trap Paused job `p` resumes: a refusal then is not the table's (a permission, say): as given."""
    reasons = {"trap_pause": "trap pause: job 5 is TRAP_PAUSED; allowed from TRAPPED", "trap_resume": "no"}
    assert refusal_for(BY_ID["trap_pause"], reasons, 5, "TRAP_PAUSED") == reasons["trap_pause"]


def test_every_dashboard_view_has_its_cli_counterpart_for_scripts() -> None:
    views = [command for command in COMMANDS if command.action.startswith("view(")]
    assert {command.id for command in views} == {"view_jobs", "view_envelopes", "view_workers"}
    for command in views:
        program, verb = command.cli_usage.split()
        assert program == "jobtui" and verb in _subcommands(), command.id
        assert "--json" in {o for a in _subcommands()[verb]._actions for o in a.option_strings}, verb
