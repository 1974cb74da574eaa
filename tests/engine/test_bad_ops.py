"""Ops that cannot start or answer nonsense fail themselves, never the engine, and never succeed a job
(issue 14, items 7 and 8)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from jobtui.engine.db.models import Job
from jobtui.engine.db.store import Store
from jobtui.engine.domain.definitions import DefinitionError
from jobtui.engine.formats.definition_file import parse_definition
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import detail, run_until_status

Submit = Callable[..., int]


@pytest.mark.parametrize(
    ("body", "field", "line"),
    [
        ('[[run]]\nrun = "echo DEPLOYING; exit 1\\u0000"\n', '[[run]] #1 "run"', 3),
        ('[[run]]\nargv = ["echo", "a\\u0000b"]\n', '[[run]] #1 "argv" (item 2)', 3),
        ('[[run]]\nrun = "true"\nenv = { X = "y\\U00000000" }\n', '[[run]] #1 "env" (key X)', 4),
        ('targets = ["web-1", "db\\u0000"]\n[[run]]\nrun = "true"\n', '"targets" (item 2)', 2),
    ],
)
def test_a_nul_in_any_string_of_a_definition_is_refused_with_file_line_and_field(
    body: str, field: str, line: int
) -> None:
    with pytest.raises(DefinitionError) as refused:
        parse_definition('name = "j"\n' + body, "nul.toml")
    assert f"nul.toml:{line}: {field}: contains a NUL character" in str(refused.value)


def test_an_op_that_cannot_start_fails_with_127_and_never_finishes_the_job(
    engine: Engine, store: Store, submit: Submit
) -> None:
    job_id = submit('name = "old"\n[[run]]\nrun = "echo DEPLOYING; exit 1"\n')
    # A job stored before definitions refused NUL (or written by another tool): Popen cannot take it.
    with store.write() as s:
        job = s.get(Job, job_id)
        assert job is not None
        stored = json.loads(job.definition)
        stored["run"][0]["run"] = "echo DEPLOYING; exit 1\x00"
        job.definition = json.dumps(stored)
        s.add(job)
    job = run_until_status(engine, job_id, "ERROR")
    step = detail(store, job_id)["tasks"][0]["steps"][0]
    assert step["status"] == "failed"
    assert step["exit_code"] == 127
    assert "cannot start op" in (step["error"] or "")
    assert "DEPLOYING" not in Path(job.log_path).read_text()


def test_a_call_op_returning_a_non_integer_fails_that_op_in_one_line_and_the_engine_goes_on(
    engine: Engine, store: Store, submit: Submit
) -> None:
    odd = submit('name = "odd"\n[[run]]\ncall = "builtins:str"\nenv = { SECRET = "hunter2" }\n')
    fine = submit('name = "fine"\n[[run]]\nrun = "true"\n')
    job = run_until_status(engine, odd, "ERROR")
    step = detail(store, odd)["tasks"][0]["steps"][0]
    assert step["error"] == "call returned a str, not an exit code (None, True, False or an int)"
    log = Path(job.log_path).read_text()
    assert "hunter2" not in log and len(log) < 4000
    assert run_until_status(engine, fine, "FINISHED").status == "FINISHED"
