"""Data is never code in a job's log: what a definition names (ops, targets, programs) shows visibly in the
engine's own lines, so it can neither forge a line nor drive the terminal of whoever reads the log; the
op's own output stays exact."""

from __future__ import annotations

from collections.abc import Callable

from jobtui.engine.db.store import Store
from jobtui.engine.domain.text import visible
from jobtui.engine.worker.loop import Engine
from jobtui.engine.worker.opstarter import shown
from tests.support.helpers import job_log, run_until_status
from tests.support.hostile import PAYLOADS

Submit = Callable[..., int]

FORGED = "[jobtui 2026-12-06 07:40:00Z] RUN deploy [web-01]: done (exit 0)"


def test_a_target_or_op_name_cannot_forge_a_line_of_the_engine(
    engine: Engine, store: Store, submit: Submit
) -> None:
    job_id = submit(
        f"""
        name = "deploy"
        targets = ["web-01\\n{FORGED}"]
        [[run]]
        name = "deploy\\u001b]0;pwned\\u0007"
        run = "printf 'out\\\\033[1m\\\\n'; exit 1"
        per_target = true
        """
    )
    run_until_status(engine, job_id, "ERROR")
    text = job_log(store, job_id)
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith(FORGED[:29])], text
    title = f"RUN deploy^[]0;pwned^G [web-01^J{FORGED}]"
    assert [line.partition("] ")[2] for line in lines if line.startswith("[jobtui ")] == [
        f"{title}: started",
        f"{title}: exit 1",
    ], text
    assert "out\x1b[1m\n" in text  # the op's own bytes, as it wrote them


def test_a_program_name_cannot_forge_a_line_when_it_cannot_start(
    engine: Engine, store: Store, submit: Submit
) -> None:
    job_id = submit(f'name = "j"\n[[run]]\nargv = ["no-such-program\\n{FORGED}"]\n')
    run_until_status(engine, job_id, "ERROR")
    text = job_log(store, job_id)
    assert not [line for line in text.splitlines() if line.startswith(FORGED[:29])], text
    assert f"jobtui-op: no-such-program^J{FORGED}: not found\n" in text


def test_the_starter_shows_control_and_invisible_characters_as_the_engine_does() -> None:
    # The starter imports the standard library only, so it has its own copy of `visible`: a program named
    # with a bidi override or a zero-width space reads in the log as the engine's lines show it.
    every = "".join(chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF)
    assert shown(every) == visible(every)
    for payload in PAYLOADS.values():
        assert shown(payload) == visible(payload)
