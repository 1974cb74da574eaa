"""The stream marks the op starter writes are taken out by every reader, whatever the pieces a log is
read in: what remains is the op's bytes, each with the stream it came from."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from jobtui.engine.domain.logread import STDERR_MARK, STDOUT_MARK, StreamSplit
from jobtui.engine.worker import opstarter

WRITES = st.lists(
    st.tuples(
        st.booleans(),  # from stderr
        st.binary(max_size=12).map(lambda b: b.replace(b"Z", b"\n"))
        | st.sampled_from([b"\x1b_", b"\x1b", b"\n"]),
    ),
    max_size=12,
)


def logged(writes: list[tuple[bool, bytes]]) -> tuple[bytes, list[tuple[int, bool]]]:
    """The log the starter writes for these reads of an op's pipes (each stderr read between the marks,
    anywhere in a line), and the op's bytes each with its stream."""
    log, expected = b"", []
    for from_stderr, data in writes:
        if not data:
            continue
        log += opstarter.STDERR_MARK + data + opstarter.STDOUT_MARK if from_stderr else data
        expected += [(byte, from_stderr) for byte in data]
    return log, expected


def writes_a_mark(writes: list[tuple[bool, bytes]]) -> bool:
    """Whether the op wrote a mark's bytes: in one stderr read, or in stdout's across reads in a row."""
    runs, run = [], b""
    for from_stderr, data in writes:
        if from_stderr:
            runs += [run, data]
            run = b""
        else:
            run += data
    return any(mark in text for text in [*runs, run] for mark in (STDERR_MARK, STDOUT_MARK))


def test_the_op_starter_and_the_readers_agree_on_the_marks() -> None:
    assert (opstarter.STDERR_MARK, opstarter.STDOUT_MARK) == (STDERR_MARK, STDOUT_MARK)


@settings(max_examples=200, deadline=None)
@given(writes=WRITES, cuts=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40))
def test_marks_come_out_and_every_byte_keeps_its_stream_however_the_log_is_cut(
    writes: list[tuple[bool, bytes]], cuts: list[int]
) -> None:
    log, expected = logged(writes)
    if writes_a_mark(writes):
        return  # an op writing a mark's very bytes is the one thing no reader can tell apart
    split, got, at = StreamSplit(), [], 0
    for size in cuts * (len(log) // max(1, sum(cuts)) + 1):
        if at >= len(log):
            break
        got += split.feed(log[at : at + size])
        at += size
    got += split.feed(b"", final=True)
    assert [(byte, err) for data, err in got for byte in data] == expected


def test_random_bytes_read_in_pieces_come_through_unchanged() -> None:
    """Binary output starts lines with escapes (one every few kilobytes): none is taken for a mark."""
    data = os.urandom(1024 * 1024)
    split = StreamSplit()
    pieces = [split.text(data[at : at + 65536]) for at in range(0, len(data), 65536)]
    assert b"".join(pieces) + split.text(b"", final=True) == data
