"""The CLI maps errors by kind: any refusal exits 1, any bad input or explained failure exits 2, each with
its one-line message and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import jobtui.cli as cli
from jobtui.engine.errors import BadInput, JobtuiError, Refusal


class _NewRefusal(Refusal):
    pass


class _NewBadInput(BadInput):
    pass


class _NewFailure(JobtuiError):
    pass


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_NewRefusal("queue: not now"), 1),
        (_NewBadInput("queue: bad x at line 3"), 2),
        (_NewFailure("disk"), 2),
    ],
)
def test_an_error_of_each_kind_exits_with_its_code_and_one_line(
    error: Exception,
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fails(_args: object) -> int:
        raise error

    monkeypatch.setattr(cli, "_cmd_queue", fails)
    assert cli.main(["queue", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == code
    err = capsys.readouterr().err
    assert err == f"{error}\n"


def test_a_bug_exits_3_with_one_line_and_its_traceback_in_a_crash_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fails(_args: object) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "_cmd_queue", fails)
    assert cli.main(["queue", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("queue: internal error (KeyError: 'a bug'); details in ")
    assert "Traceback" not in err and len(err.splitlines()) == 1
    log = Path(err.rsplit("details in ", 1)[1].strip())
    assert "Traceback" in log.read_text() and "a bug" in log.read_text()
