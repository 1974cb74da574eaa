"""The log viewer (`l`): stderr lines marked (captured apart from stdout by the op starter), following a
running job's output, search with n/N, wrapping, copying a line, and $PAGER."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from jobtui.engine.db.store import Store
from jobtui.engine.domain.logread import STDERR_MARK
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.reads import Reads
from jobtui.engine.worker.loop import Engine
from jobtui.screens.log_viewer import LogViewer
from jobtui.widgets.log_view import LogView
from tests.support.ops_running import log_holds, wait_op_started
from tests.support.pilot import app_for, run_until_ended, select_job, until

Submit = Callable[..., int]
SIZE = (140, 36)


def viewer_of(pilot: object) -> LogViewer:
    screen = pilot.app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, LogViewer), screen
    return screen


def body(pilot: object) -> LogView:
    return viewer_of(pilot).query_one(LogView)


def op_lines(view: LogView) -> list[tuple[str, bool]]:
    """The op's own lines (not the engine's "[jobtui …]" ones), each with whether it came from stderr."""
    pairs = zip(view.model.lines, view.model.stderr, strict=True)
    return [(ln, err) for ln, err in pairs if not ln.startswith("[jobtui")]


async def test_stderr_lines_are_marked_and_stdout_lines_are_not(
    store: Store, submit: Submit, engine: Engine
) -> None:
    job_id = submit(
        'name = "mixed"\n[[run]]\n'
        "run = \"echo out-1; sleep 0.1; echo err-1 >&2; printf 'err-2\\\\nerr-3' >&2; sleep 0.1; "
        'echo out-2"\n'
    )
    run_until_ended(engine, job_id)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, LogViewer), "the log viewer")
        await until(pilot, lambda: any("out-2" in ln for ln, _ in op_lines(body(pilot))), "the whole log")
        assert op_lines(body(pilot)) == [
            ("out-1", False),
            ("err-1", True),
            ("err-2", True),
            ("err-3out-2", True),  # stderr left its last line open; stdout went on after it
        ]
        # The mark is drawn in the gutter of each stderr line, never as text.
        view = body(pilot)
        drawn = ["".join(segment.text for segment in view.render_line(y)) for y in range(view.size.height)]
        marked = [row.strip() for row in drawn if row.startswith("\u258c ")]
        assert marked == ["\u258c err-1", "\u258c err-2", "\u258c err-3out-2"], drawn
        assert not any("stderr" in row or "\x1b" in row for row in drawn)
    # Every other reader gets the op's bytes, the marks taken out.
    from jobtui.engine.domain.logread import StreamSplit

    raw = Reads(store, Actor("tester")).log_end(job_id, 1 << 20).data
    assert STDERR_MARK in raw
    assert b"out-1\nerr-1\nerr-2\nerr-3out-2\n" in StreamSplit().text(raw, final=True)


def test_each_byte_keeps_its_stream_when_both_write_on_one_line(
    store: Store, submit: Submit, engine: Engine
) -> None:
    pause = "sleep 0.1"
    job_id = submit(
        'name = "mixed-lines"\n[[run]]\n'
        f'run = "printf abc; {pause}; echo err >&2; {pause}; printf more >&2; {pause}; echo out; {pause}; '
        f'echo end >&2"\n'
    )
    run_until_ended(engine, job_id)
    from jobtui.engine.domain.logread import StreamSplit

    raw = Reads(store, Actor("tester")).log_end(job_id, 1 << 20).data
    flags = [(byte, err) for data, err in StreamSplit().feed(raw, final=True) for byte in data]
    text = bytes(byte for byte, _ in flags)
    # The op's part: after the engine's "started" line, before its "done" line.
    op = flags[text.index(b"\n") + 1 : text.rindex(b"[jobtui")]
    runs: list[tuple[bytes, bool]] = []
    for byte, err in op:
        if runs and runs[-1][1] == err:
            runs[-1] = (runs[-1][0] + bytes([byte]), err)
        else:
            runs.append((bytes([byte]), err))
    assert runs == [(b"abc", False), (b"err\nmore", True), (b"out\n", False), (b"end\n", True)]


def test_tabs_become_spaces_and_a_line_with_stderr_in_it_is_stderr_s() -> None:
    from jobtui.engine.domain.logread import STDERR_MARK, STDOUT_MARK
    from jobtui.widgets.log_view import LogLines

    lines = LogLines()
    lines.feed(b"name\tvalue\nhalf ")
    lines.feed(STDERR_MARK + b"warn" + STDOUT_MARK + b"\n")
    assert lines.lines == ["name    value", "half warn"]  # a tab moves to the next column of 8
    assert lines.stderr == [False, True]


def test_a_line_of_joined_emoji_reads_the_same_wherever_the_log_pieces_were_cut() -> None:
    """The log arrives in pieces: a zero-width joiner at a piece's edge showed as `\\u200d` in the tail
    and the viewer, beside the same line read in one piece with its emoji joined."""
    from jobtui.widgets.log_reading import LogText
    from jobtui.widgets.log_view import LogLines

    data = "dev 👩\u200d💻 🏳\ufe0f\u200d🌈 1\ufe0f\u20e3 क\u094d\u200dष\nend \u200d\n".encode()
    whole = LogLines()
    whole.feed(data, final=True)
    assert whole.lines[0] == "dev 👩\u200d💻 🏳\ufe0f\u200d🌈 1\ufe0f\u20e3 क\u094d\u200dष"
    assert whole.lines[1] == "end \\u200d"  # nothing to join: shown
    for cut in range(len(data) + 1):
        lines = LogLines()
        lines.feed(data[:cut])
        lines.feed(data[cut:], final=True)
        assert lines.lines == whole.lines, cut
        text = LogText()
        assert text.feed(data[:cut]) + text.feed(data[cut:], final=True) == "\n".join(whole.lines) + "\n"


def test_colour_codes_and_crlf_read_the_same_wherever_the_log_pieces_were_cut() -> None:
    """A colour code cut by a piece's edge showed as "\ufffd[3" then "1m", an OSC link's text as text, and
    a CR LF as two line ends (an empty line in the log)."""
    from jobtui.widgets.log_reading import LogText

    data = (
        b"\x1b[1;31mFAILED\x1b[0m step 2\r\n"
        b"see \x1b]8;;https://ci.example/42\x1b\\the build\x1b]8;;\x07 now\r\n"
        b"100%\r\x1b[2K\x1b[32mdone\x1b[m\r\n"
    )
    whole = LogText().feed(data, final=True)
    assert whole == "FAILED step 2\nsee the build now\n100%\ndone\n"
    for cut in range(len(data) + 1):
        text = LogText()
        assert text.feed(data[:cut]) + text.feed(data[cut:], final=True) == whole, cut
    # The log's end shows what was held back in case more came: a CR, or a sequence cut short for good.
    text = LogText()
    assert text.feed(b"half \x1b[3") + text.feed(b"", final=True) == "half \ufffd[3"


async def test_the_viewer_follows_a_running_job_until_moved_up_and_f_follows_again(
    store: Store, submit: Submit, engine: Engine, tmp_path: Path
) -> None:
    gates = [tmp_path / f"gate-{n}" for n in range(3)]
    waits = [f"while [ ! -f {gate} ]; do sleep 0.02; done" for gate in gates]
    lines = "; ".join(f"{wait}; seq {n * 100 + 1} {n * 100 + 100}" for n, wait in enumerate(waits))
    job_id = submit(f'name = "chatty"\n[[run]]\nrun = "echo first; {lines}; sleep 30"\n')

    wait_op_started(engine, store, job_id)
    engine.run_until(log_holds(store, job_id, b"first"))
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, LogViewer), "the log viewer")
        view = body(pilot)
        assert viewer_of(pilot).following  # on by default for a running job
        await until(pilot, lambda: ("first", False) in op_lines(view), "the first line")

        gates[0].touch()
        await asyncio.to_thread(engine.run_until, log_holds(store, job_id, b"\n100\n"))
        await until(pilot, lambda: view.current_line() == "100", "the cursor following to line 100")
        await until(pilot, lambda: view.scroll_y == view.max_scroll_y, "the screen to show the end")

        await pilot.press("up")  # moving up stops following
        await until(pilot, lambda: not viewer_of(pilot).following, "following to stop")
        assert view.current_line() == "99"
        gates[1].touch()
        await asyncio.to_thread(engine.run_until, log_holds(store, job_id, b"\n200\n"))
        await until(pilot, lambda: "200" in view.model.lines, "lines 101-200")
        assert view.current_line() == "99"  # new output arrived; the cursor stayed where it was put

        await pilot.press("F")  # following again: to the end at once, and with what comes
        assert viewer_of(pilot).following and view.current_line() == "200"
        gates[2].touch()
        await asyncio.to_thread(engine.run_until, log_holds(store, job_id, b"\n300\n"))
        await until(pilot, lambda: view.current_line() == "300", "the cursor following to line 300")
        state = str(viewer_of(pilot).query_one("#log-state").render())
        assert "following" in state and "not following" not in state


async def test_search_next_previous_wrap_and_copy_a_line(
    store: Store, submit: Submit, engine: Engine
) -> None:
    long_line = "x" * 300
    job_id = submit(
        'name = "searchable"\n[[run]]\n'
        f'run = "seq 1 500; echo Needle one; seq 501 900; echo {long_line}; echo needle two; seq 901 950"\n'
    )
    run_until_ended(engine, job_id)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, LogViewer), "the log viewer")
        view = body(pilot)
        await until(pilot, lambda: "950" in view.model.lines, "the whole log")
        assert not viewer_of(pilot).following  # an ended job opens on its end, not following
        assert view.current_line() is not None and view.current_line().startswith("[jobtui")  # type: ignore[union-attr]

        await pilot.press("slash", *"needle", "enter")  # lower case: any case matches
        assert view.current_line() == "Needle one"  # the next match after the cursor, round the end
        state = str(viewer_of(pilot).query_one("#log-state").render())
        assert 'lines matching "needle": 2' in state
        await pilot.press("n")
        assert view.current_line() == "needle two"
        await pilot.press("N")
        assert view.current_line() == "Needle one"
        await pilot.press("N")  # round the start
        assert view.current_line() == "needle two"
        await pilot.press("slash", *"Needle", "enter")  # upper case: exact case
        assert view.current_line() == "Needle one"
        await pilot.press("n")  # the only match: it stays
        assert 'lines matching "Needle": 1' in str(viewer_of(pilot).query_one("#log-state").render())

        await pilot.press("Y")
        assert pilot.app.clipboard == "Needle one"

        rows = view.virtual_size.height
        await pilot.press("w")  # the 300-character line folds into three screen rows or more
        assert view.wrap and view.virtual_size.height >= rows + 2
        assert view.virtual_size.width <= view.scrollable_content_region.width
        await pilot.press("w")
        assert not view.wrap and view.virtual_size.height == rows
        assert view.virtual_size.width > 300

        await pilot.press("slash", *"no such text", "enter")
        await until(
            pilot,
            lambda: any("No line matches" in str(n.message) for n in pilot.app._notifications),
            "the notice that nothing matches",
        )
        await pilot.press("q")
        await until(pilot, lambda: not isinstance(pilot.app.screen, LogViewer), "the monitor again")


async def test_o_without_a_terminal_to_lend_says_how_to_read_the_log(
    store: Store, submit: Submit, engine: Engine
) -> None:
    """Under the test driver (as in a browser) the app cannot suspend: the pager is refused, saying why."""
    job_id = submit('name = "short"\n[[run]]\nrun = "echo hello"\n')
    run_until_ended(engine, job_id)
    async with app_for(store).run_test(size=SIZE) as pilot:
        await select_job(pilot, job_id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, LogViewer), "the log viewer")
        await pilot.press("o")
        await until(
            pilot,
            lambda: any(f"jobtui log {job_id}" in str(n.message) for n in pilot.app._notifications),
            "the notice that there is no pager here",
        )
        assert isinstance(pilot.app.screen, LogViewer)
