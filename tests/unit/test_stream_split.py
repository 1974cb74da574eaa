"""The stream marks the op starter writes are taken out by every reader, whatever the pieces a log is
read in: what remains is the op's bytes, each with the stream it came from."""

from __future__ import annotations

import os

from hypothesis import example, given, settings
from hypothesis import strategies as st

from jobtui.engine.domain.logread import ESCAPED_ESC, STDERR_MARK, STDOUT_MARK, StreamSplit
from jobtui.engine.worker import opstarter

WRITES = st.lists(
    st.tuples(
        st.booleans(),  # from stderr
        st.binary(max_size=12).map(lambda b: b.replace(b"Z", b"\n"))
        | st.sampled_from([b"\x1b_", b"\x1b", b"\n", b"_", b"\x1b\\", STDERR_MARK, STDOUT_MARK, ESCAPED_ESC])
        # A mark's start or its rest: written in two reads, the op wrote a whole mark.
        | st.builds(
            lambda mark, cut, start: mark[:cut] if start else mark[cut:],
            st.sampled_from([STDERR_MARK, STDOUT_MARK, ESCAPED_ESC]),
            st.integers(1, 3),
            st.booleans(),
        ),
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
        log += opstarter.relayed(data, from_stderr)
        expected += [(byte, from_stderr) for byte in data]
    return log, expected


def test_the_op_starter_and_the_readers_agree_on_the_marks() -> None:
    assert (opstarter.STDERR_MARK, opstarter.STDOUT_MARK) == (STDERR_MARK, STDOUT_MARK)
    assert opstarter.ESCAPED_ESC == ESCAPED_ESC


@settings(max_examples=200, deadline=None)
@example(
    writes=[(False, b"a\x1b"), (False, b"_stderr\x1b\\b"), (True, b"c\x1b"), (False, b"_stdout\x1b\\")],
    cuts=[4],
)
@given(writes=WRITES, cuts=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=40))
def test_marks_come_out_and_every_byte_keeps_its_stream_however_the_log_is_cut(
    writes: list[tuple[bool, bytes]], cuts: list[int]
) -> None:
    """Whatever the op writes, the marks' very bytes too, in reads cut anywhere (a mark's start at the
    end of one read, its rest at the start of the next)."""
    log, expected = logged(writes)
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
    reads = range(0, len(data), opstarter.READ_BYTES)
    log = b"".join(opstarter.relayed(data[at : at + opstarter.READ_BYTES], False) for at in reads)
    split = StreamSplit()
    pieces = [split.text(log[at : at + 65536]) for at in range(0, len(log), 65536)]
    assert b"".join(pieces) + split.text(b"", final=True) == data


def test_a_log_written_before_the_starter_escaped_the_ops_escapes_reads_as_it_did() -> None:
    """Its marks come out; an APC string the op wrote (unescaped then) stays the op's."""
    old_log = b"a\x1b_x\x1b\\b\x1b_" + STDERR_MARK + b"err\x1b_" + STDOUT_MARK + b"c"
    assert StreamSplit().feed(old_log, final=True) == [
        (b"a\x1b_x\x1b\\b\x1b_", False),
        (b"err\x1b_", True),
        (b"c", False),
    ]
