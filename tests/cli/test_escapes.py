"""Data never drives the terminal through the command line (issue 14, item 5): names, types, targets, op
names, comments and op output with escape sequences, C1 controls or markup read as visible text in the
human output; `--json`, and `log` to a pipe or a file, keep the exact data.

The commands run in this process (`jobtui.cli.main`) for speed; one `log` runs as the real console
script on a pseudo-terminal, as a user would see it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tty
from pathlib import Path
from typing import Any

import pytest

from jobtui.cli import main
from jobtui.engine.db.store import Store
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import ROOT, run_until_status
from tests.support.hostile import (
    HOSTILE_OUTPUT,
    HOSTILE_OUTPUT_RUN,
    PAYLOADS,
    controls_in,
    hostile_definition,
    shown,
    toml_string,
)

_SCRIPT = Path(sys.executable).with_name("jobtui")


def run(capsysbinary: pytest.CaptureFixture[bytes], *argv: str) -> tuple[bytes, bytes]:
    code = main(list(argv))
    out, err = capsysbinary.readouterr()
    assert code == 0, err.decode(errors="replace")
    return out, err


def human(output: bytes) -> str:
    """Human output: UTF-8 with no control character but line feeds."""
    assert controls_in(output) == [], output
    return output.decode("utf-8")


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_job_data_reads_as_visible_text_and_json_keeps_it(
    payload: str, db_url: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "hostile.toml"
    path.write_text(hostile_definition(payload))
    db = ["--db", db_url]

    out, _ = run(capsysbinary, "submit", str(path), *db)
    assert f"({shown('n' + payload)})" in human(out)
    out, _ = run(capsysbinary, "submit", str(path), "--keep", "--json", *db)
    job_id = json.loads(out)["id"]
    run(capsysbinary, "cancel", str(job_id), "--comment", "c" + payload, *db)

    out, _ = run(capsysbinary, "jobs", *db)
    assert shown("n" + payload)[:24] in human(out)

    out, _ = run(capsysbinary, "show", str(job_id), *db)
    text = human(out)
    for field in ("n", "t", "h", "o"):
        assert shown(field + payload) in text, field

    out, _ = run(capsysbinary, "audit", str(job_id), *db)
    assert shown("c" + payload) in human(out)

    # --json keeps the exact data.
    out, _ = run(capsysbinary, "show", str(job_id), "--json", *db)
    data = json.loads(out)
    assert (data["name"], data["type"]) == ("n" + payload, "t" + payload)
    assert data["tasks"][0]["target"] == "h" + payload
    assert data["tasks"][0]["steps"][0]["name"] == "o" + payload
    out, _ = run(capsysbinary, "jobs", "--json", *db)
    assert {job["name"] for job in json.loads(out)} == {"n" + payload}
    out, _ = run(capsysbinary, "audit", str(job_id), "--json", *db)
    assert "c" + payload in [row["comment"] for row in json.loads(out)]


# One name per kind of character that draws as nothing: each would read as "web01" in the listing.
LOOK_ALIKES = {
    "\u00ad": "\\u00ad",  # soft hyphen
    "\u034f": "\\u034f",  # combining grapheme joiner
    "\u180e": "\\u180e",  # Mongolian vowel separator
    "\u200d": "\\u200d",  # zero-width joiner, with nothing to join
    "\u2063": "\\u2063",  # invisible separator
    "\u206b": "\\u206b",  # deprecated format character
    "\ufe0f": "\\ufe0f",  # variation selector on a letter
    "\U000e0070": "\\U000e0070",  # tag
    "\U000e01ef": "\\U000e01ef",  # variation selector supplement
    "\u3164": "\\u3164",  # Hangul filler
}


def test_names_alike_but_for_an_invisible_character_read_apart_in_the_job_list(
    db_url: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    db = ["--db", db_url]
    emoji = "👩\u200d💻"
    for n, name in enumerate(["web01", f"{emoji}-01", *(f"web{char}01" for char in LOOK_ALIKES)]):
        path = tmp_path / f"j{n}.toml"
        path.write_text(f"name = {toml_string(name)}\n[[run]]\nrun = 'true'\n")
        run(capsysbinary, "submit", str(path), "--keep", *db)
    out, _ = run(capsysbinary, "jobs", *db)
    text = human(out.replace(emoji.encode(), b"emoji"))
    for char, form in LOOK_ALIKES.items():
        assert f"web{form}01" in text, repr(char)
    assert " web01 " in text and f"{emoji}-01".encode() in out  # an emoji's joiner stays


def test_a_refusal_quoting_data_reads_as_visible_text(
    db_url: str, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Errors on stderr go through the same net: a definition error quotes the file's unknown key."""
    payload = PAYLOADS["all"]
    path = tmp_path / "bad.toml"
    path.write_text(f"name = 'n'\n{json.dumps('k' + payload)} = 1\n[[run]]\nrun = 'true'\n")
    code = main(["submit", str(path), "--db", db_url])
    _, err = capsysbinary.readouterr()
    assert code == 2
    assert controls_in(err) == [], err
    assert shown("k" + payload).split("^M")[0] in err.decode()  # (the parser itself writes \\r)


@pytest.fixture
def hostile_log(store: Store, engine: Engine, submit: Any) -> int:
    """A finished job whose log holds escape sequences (and a raw 0x9b byte, not UTF-8)."""
    job_id = int(submit(hostile_definition(PAYLOADS["all"], run=HOSTILE_OUTPUT_RUN)))
    run_until_status(engine, job_id, "FINISHED")
    return job_id


class FakeTerminal:
    """A stdout that says it is a terminal."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def isatty(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def write(self, text: str) -> int:
        return self.buffer.write(text.encode())


def test_log_to_a_terminal_shows_control_characters_to_a_pipe_keeps_the_bytes(
    hostile_log: int, db_url: str, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["log", str(hostile_log), "--db", db_url]
    # To a pipe or a file (scripts): the exact bytes.
    out, _ = run(capsysbinary, *argv)
    assert HOSTILE_OUTPUT in out
    # To a terminal: control characters shown; the stray byte as \x9b; line feeds kept.
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(argv) == 0
    shown_log = terminal.buffer.getvalue()
    assert controls_in(shown_log, tab=True) == []
    assert b"out^[]0;pwned^G^[]52;c;cHduZWQ=^G^[[2J\\x9b end\n" in shown_log
    # --raw: the exact bytes to a terminal too.
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main([*argv, "--raw"]) == 0
    assert HOSTILE_OUTPUT in terminal.buffer.getvalue()


def test_log_output_is_raw_only_for_pipes_files_or_with_raw() -> None:
    from jobtui.cli import log_output_is_raw

    plain, raw = argparse.Namespace(raw=False), argparse.Namespace(raw=True)
    assert log_output_is_raw(plain, io.StringIO())  # a pipe or a file
    assert not log_output_is_raw(plain, FakeTerminal())
    assert log_output_is_raw(raw, FakeTerminal())


def test_log_to_a_terminal_reads_the_same_wherever_the_log_pieces_were_cut() -> None:
    """`jobtui log` reads the log in pieces: a zero-width joiner at a piece's edge showed as `\\u200d`,
    beside the same line read in one piece with its emoji joined."""
    from jobtui.cli import VisibleLog

    data = "dev 👩\u200d💻 🏳\ufe0f\u200d🌈 \x1b[31mred\r\nend \u200d\n".encode()
    whole = VisibleLog().feed(data, final=True)
    assert whole.decode() == "dev 👩\u200d💻 🏳\ufe0f\u200d🌈 ^[[31mred^M\nend \\u200d\n"
    for cut in range(len(data) + 1):
        shown = VisibleLog()
        assert shown.feed(data[:cut]) + shown.feed(data[cut:], final=True) == whole, cut


def test_log_on_a_real_terminal_shows_no_escape_sequence(hostile_log: int, db_url: str) -> None:
    """The console script on a pseudo-terminal, as a user runs it."""
    command = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jobtui.cli"]
    master, slave = os.openpty()
    tty.setraw(slave)  # no \n → \r\n: what arrives is what the command wrote
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        process = subprocess.Popen(
            [*command, "log", str(hostile_log), "--db", db_url],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
        )
        os.close(slave)
        received = b""
        while True:
            try:
                piece = os.read(master, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not piece:
                break
            received += piece
        _, err = process.communicate(timeout=30)
    finally:
        os.close(master)
    assert process.returncode == 0, err
    assert controls_in(received, tab=True) == [], received
    assert b"out^[]0;pwned^G" in received


def test_the_daemons_log_lines_show_control_characters_visibly() -> None:
    import logging

    from jobtui.cli import _VisibleFormatter

    record = logging.LogRecord(
        "jobtui.engine", logging.INFO, __file__, 1, "job %s: %s", ("\x1b]0;owned\x07", "done"), None
    )
    line = _VisibleFormatter("%(message)s").format(record)
    assert line == "job ^[]0;owned^G: done"


# An op writing the very bytes of the log's stream marks, and of the starter's escape of an ESC: on stdout
# (one mark cut between two writes), then on stderr.
MARKS_ON_STDOUT = b"a\x1b_stderr\x1b\\b\nf\x1b" + b"_stdout\x1b\\g\n"
MARKS_ON_STDERR = b"c\x1b_stdout\x1b\\d\x1b_\x1b\\e\x1b_stderr\x1b\\\x1b\n"


def test_an_ops_own_stream_marks_come_out_of_log_byte_for_byte_each_on_its_stream(
    store: Store,
    engine: Engine,
    submit: Any,
    db_url: str,
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jobtui.engine.domain.logread import StreamSplit
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.service.reads import Reads

    def printf(data: bytes) -> str:
        return "printf '" + "".join(f"\\{byte:03o}" for byte in data) + "'"

    stdout_first, stdout_rest = MARKS_ON_STDOUT.split(b"_stdout", 1)
    script = tmp_path / "marks.sh"
    stderr = f"{printf(MARKS_ON_STDERR)} >&2"
    script.write_text(f"{printf(stdout_first)}\n{printf(b'_stdout' + stdout_rest)}\nsleep 0.1\n{stderr}\n")
    job_id = int(submit(f'name = "marks"\n[[run]]\nrun = "sh {script}"\n'))
    run_until_status(engine, job_id, "FINISHED")
    argv = ["log", str(job_id), "--db", db_url]

    out, _ = run(capsysbinary, *argv)
    assert MARKS_ON_STDOUT + MARKS_ON_STDERR in out
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(argv) == 0
    assert (
        b"a^[_stderr^[\\b\nf^[_stdout^[\\g\nc^[_stdout^[\\d^[_^[\\e^[_stderr^[\\^[\n"
        in terminal.buffer.getvalue()
    )
    # The database's copy, as the dashboard's log pane reads it: each byte on the stream the op wrote it to.
    logged = Reads(store, Actor("tester")).log_read(job_id, None, 1 << 20).data
    runs = StreamSplit().feed(logged, final=True)
    assert b"".join(data for data, stderr in runs if stderr) == MARKS_ON_STDERR
    assert MARKS_ON_STDOUT in b"".join(data for data, stderr in runs if not stderr)
