"""The CLI maps errors by kind: any refusal exits 1, any bad input or explained failure exits 2, each with
its one-line message and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jobtui.cli as cli
from jobtui.engine.errors import BadInput, JobtuiError, Refusal
from tests.support.template_db import migrated_sqlite


class _NewRefusal(Refusal):
    pass


class _NewBadInput(BadInput):
    pass


class _NewFailure(JobtuiError):
    pass


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (_NewRefusal("queue: not now"), 1, "queue: not now"),
        (_NewBadInput("queue: bad x at line 3"), 2, "queue: bad x at line 3"),
        # An error that does not say which command met it is led by it, as the others are.
        (_NewFailure("disk"), 2, "queue: disk"),
    ],
)
def test_an_error_of_each_kind_exits_with_its_code_and_one_line(
    error: Exception,
    code: int,
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fails(_args: object) -> int:
        raise error

    monkeypatch.setattr(cli, "_cmd_queue", fails)
    assert cli.main(["queue", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == code
    err = capsys.readouterr().err
    assert err == f"{line}\n"


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


# A module the CLI imports while it loads, shadowed by one that is "interrupted": Ctrl-C lands while the
# command is still importing, the moment a user is most likely to give up on a typo.
_CTRL_C_ON_IMPORT = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n"
# The command starts as a terminal starts it, Ctrl-C at its default: a test run a non-interactive shell
# started in the background (`pytest … &`, a CI runner's shell) has SIGINT ignored, and every process it
# starts would inherit that.
_AS_A_TERMINAL_STARTS_IT = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


@pytest.mark.parametrize("shadowed", ["argparse", "sqlalchemy"])
@pytest.mark.parametrize("how", ["console script", "python -m jobtui"])
def test_ctrl_c_while_the_command_loads_exits_130_without_a_traceback(
    shadowed: str, how: str, tmp_path: Path
) -> None:
    (tmp_path / f"{shadowed}.py").write_text(_CTRL_C_ON_IMPORT)
    script = Path(sys.executable).with_name("jobtui")
    command = [str(script)] if how == "console script" else [sys.executable, "-m", "jobtui"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _AS_A_TERMINAL_STARTS_IT,
            *command,
            "jobs",
            "--db",
            f"sqlite:///{tmp_path / 'jobs.db'}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "")


def test_with_stderr_closed_an_error_is_not_written_to_stdout(tmp_path: Path) -> None:
    # `2>&-`: scripts that read --json from stdout must never get an error message there instead.
    done = subprocess.run(
        [
            "sh",
            "-c",
            '"$@" 2>&-',
            "sh",
            sys.executable,
            "-m",
            "jobtui",
            "show",
            "999",
            "--json",
            "--db",
            f"sqlite:///{tmp_path / 'none.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")


def test_a_command_whose_output_cannot_be_written_says_it_was_carried_out(tmp_path: Path) -> None:
    # `jobtui submit ... > file` on a full disk: the job is in, only its id was lost. Saying "No space left"
    # alone reads as a failed submission, and a script would submit it again.
    db = migrated_sqlite(tmp_path / "jobs.db")
    spec = tmp_path / "j.toml"
    spec.write_text('name = "j"\n[[run]]\nrun = "true"\n')
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "jobtui", "submit", str(spec), "--json", "--db", db],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr == (
        "submit: its output could not be written (No space left on device);"
        " the command itself was carried out\n"
    )
    listed = subprocess.run(
        [sys.executable, "-m", "jobtui", "jobs", "--json", "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert [job["name"] for job in json.loads(listed.stdout)] == ["j"]
    with open("/dev/full", "w") as full:
        read = subprocess.run(
            [sys.executable, "-m", "jobtui", "jobs", "--json", "--db", db],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    # A command that only reads carried nothing out.
    assert (read.returncode, read.stderr) == (
        2,
        "jobs: its output could not be written (No space left on device)\n",
    )


@pytest.mark.parametrize("command", [["jobs", "--json"], ["submit", "j.toml"]])
def test_with_stdout_closed_a_command_succeeds(tmp_path: Path, command: list[str]) -> None:
    # `>&-`: the output is not wanted; the command is carried out and says so by its exit code alone.
    db = migrated_sqlite(tmp_path / "jobs.db")
    (tmp_path / "j.toml").write_text('name = "j"\n[[run]]\nrun = "true"\n')
    jobtui = [sys.executable, "-m", "jobtui"]
    subprocess.run([*jobtui, "submit", "j.toml", "--db", db], cwd=tmp_path, check=True, capture_output=True)
    done = subprocess.run(
        ["sh", "-c", '"$@" >&-', "sh", *jobtui, *command, "--db", db],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
