"""`visible`: text from data made safe for a terminal (issue 14, item 5)."""

from __future__ import annotations

import unicodedata
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobtui.engine.domain.text import VisibleStream, is_visible, visible

# Drawn as nothing though neither control nor format characters (Unicode's Default_Ignorable_Code_Point),
# and the format characters Unicode 15 added (Egyptian hieroglyph controls), past Python 3.11's tables.
IGNORABLE = frozenset(
    [
        *(0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, *range(0x180B, 0x1810), 0x2065, 0x3164),
        *(*range(0xFE00, 0xFE10), 0xFFA0, *range(0xFFF0, 0xFFF9), *range(0xE0000, 0xE1000)),
        *range(0x13439, 0x13440),
    ]
)
JOINERS = "\u200c\u200d"
SELECTORS = frozenset([0x180B, 0x180C, 0x180D, 0x180F, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])


def hidden(char: str) -> bool:
    """A character a terminal would obey or draw as nothing."""
    return unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or ord(char) in IGNORABLE


def left(shown: str) -> list[str]:
    """The hidden characters of `shown` but those a joiner or selector may be: a joiner between two
    characters not ASCII, a selector after one (or in a keycap)."""
    return [
        char
        for at, char in enumerate(shown)
        if hidden(char)
        and not (
            char in JOINERS
            and 0 < at < len(shown) - 1
            and not shown[at - 1].isascii()
            and not shown[at + 1].isascii()
        )
        and not (
            ord(char) in SELECTORS
            and at > 0
            and (not shown[at - 1].isascii() or shown[at + 1 : at + 2] == "\u20e3")
        )
    ]


# Text rich in what matters: control characters, ESC sequences, markup brackets, emoji and their joiners
# and selectors, invisible characters, and anything else.
texts = st.text(
    st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x9F),
        st.sampled_from(
            ["\x1b", "[", "]", "/", "\n", "\t", "\u202e", "\u2066", "\u200b", "\u200d", "\u200c"]
        ),
        st.sampled_from(
            ["\ufe0f", "\ufe0e", "\u20e3", "\U000e0100", "\u00ad", "\u3164", "\U000e0041", "1", "é"]
        ),
        st.sampled_from(["👩", "💻", "🏽", "⚠", "ℹ", "名", "ك", "\u094d", "\ue000"]),
        st.characters(),
    )
)


@given(texts)
def test_visible_leaves_no_control_character_and_is_stable(text: str) -> None:
    shown = visible(text)
    assert left(shown) == []
    assert is_visible(shown)
    assert visible(shown) == shown
    if not any(hidden(char) for char in text):
        assert shown == text  # printable text is left alone


@given(texts)
def test_visible_keeps_the_characters_asked_for(text: str) -> None:
    shown = visible(text, keep="\n\t")
    assert set(left(shown)) <= {"\n", "\t"}
    assert shown.count("\n") == text.count("\n") and shown.count("\t") == text.count("\t")
    assert visible(text) == visible(shown)  # keeping is only a choice of what to show


def test_every_control_format_and_ignorable_character_of_pythons_tables_is_shown_alone() -> None:
    # Python's Unicode tables may grow format characters with a new Python: `visible` must know them.
    every = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
    assert [char for char in every if hidden(char) and visible(char) == char] == []
    # Nothing else is touched: letters, marks, symbols, private use, code points unassigned in the tables
    # (the emoji of newer Unicode versions are among them).
    assert [char for char in every if not hidden(char) and visible(char) != char] == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;title\x07", "^[]0;title^G"),
        ("\x1b]52;c;cHduZWQ=\x07", "^[]52;c;cHduZWQ=^G"),
        ("\x1b[2J", "^[[2J"),
        ("\x9b31m\x9d\x9c", "\\x9b31m\\x9d\\x9c"),
        ("a\x7fb\rc\x08", "a^?b^Mc^H"),
        ("tab\tline\n", "tab^Iline^J"),
        ("[/][link=http://x]y[/link]", "[/][link=http://x]y[/link]"),
        ("ñandú → 日本", "ñandú → 日本"),
        # Read on a bidi terminal as "deploy-prod", and two names alike but for an invisible space.
        ("\u202edorp-yolped\u202c", "\\u202edorp-yolped\\u202c"),
        ("web\u200b-01\ufeff", "web\\u200b-01\\ufeff"),
        ("a\u2066b\u2069\u2028", "a\\u2066b\\u2069\\u2028"),
        ("👩\u200d💻 كتاب", "👩\u200d💻 كتاب"),  # a joiner of an emoji and right-to-left text stay
        # Two names alike but for what draws as nothing (issue: invisible characters let through).
        ("web\u00ad01\u034f\u180e", "web\\u00ad01\\u034f\\u180e"),
        ("a\u200cb\u200dc\u200e\u200f", "a\\u200cb\\u200dc\\u200e\\u200f"),
        ("a\u2061\u2064\u206a\u206f", "a\\u2061\\u2064\\u206a\\u206f"),
        ("web\ufe0f\ufe00-01", "web\\ufe0f\\ufe00-01"),
        ("prod\U000e0041\U000e007f\U000e0100", "prod\\U000e0041\\U000e007f\\U000e0100"),
        ("\u115f\u1160\u3164\uffa0db", "\\u115f\\u1160\\u3164\\uffa0db"),
        ("é\u200dé 名\u200d", "é\\u200dé 名\\u200d"),  # nothing to join: a cased letter, the end
        # What emoji and scripts are written with stays: ZWJ sequences with skin tones and selectors,
        # keycaps, a Persian non-joiner, a Devanagari half form, an ideographic variation.
        (
            "👩🏽\u200d💻 🏳\ufe0f\u200d🌈 ⚠\ufe0f ℹ\ufe0f 1\ufe0f\u20e3",
            "👩🏽\u200d💻 🏳\ufe0f\u200d🌈 ⚠\ufe0f ℹ\ufe0f 1\ufe0f\u20e3",
        ),
        ("می\u200cخواهم क\u094d\u200dष 葛\U000e0100", "می\u200cخواهم क\u094d\u200dष 葛\U000e0100"),
        ("a\ufe0f\u200d😀", "a\\ufe0f\\u200d😀"),  # the selector is shown, so the joiner joins nothing
    ],
)
def test_visible_forms(text: str, shown: str) -> None:
    assert visible(text) == shown


# Where a joiner or selector's neighbours decide whether it stays: at a piece's start and end, each way.
JOINED = [
    "👩🏽\u200d💻 🏳\ufe0f\u200d🌈 ⚠\ufe0f ℹ\ufe0f 1\ufe0f\u20e3",
    "می\u200cخواهم क\u094d\u200dष 葛\U000e0100",
    "é\u200dé 名\u200d",
    "a\ufe0f\u200d😀 \u200d\u200d💻\n\u200d\ttab\u202e",
]


@pytest.mark.parametrize("text", JOINED)
def test_text_in_two_pieces_is_shown_as_in_one_wherever_it_is_cut(text: str) -> None:
    """A log is read in pieces: a joiner cut from the emoji it joins showed as `\\u200d` where the same
    text in one piece kept it."""
    whole = visible(text, keep="\n\t")
    for cut in range(len(text) + 1):
        stream = VisibleStream(keep="\n\t")
        assert stream.feed(text[:cut]) + stream.feed(text[cut:], final=True) == whole, cut


# What joiners and selectors are judged by (whole sequences, and their parts), and the rest of what matters.
joinable = st.lists(
    st.sampled_from(
        [
            *("👩\u200d💻", "🏳\ufe0f\u200d🌈", "1\ufe0f\u20e3", "क\u094d\u200dष", "👩", "\u200d", "\u200c"),
            *("\ufe0f", "1", "\u20e3", "名", "a", "\n", " ", "\u202e", "\U000e0100", "\x1b"),
        ]
    ),
    max_size=8,
).map("".join)


@given(st.one_of(texts, joinable), st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_text_in_any_pieces_is_shown_as_in_one(text: str, cuts: list[int]) -> None:
    whole = visible(text)
    for cut in range(len(text) + 1):
        stream = VisibleStream()
        assert stream.feed(text[:cut]) + stream.feed(text[cut:], final=True) == whole
    stream = VisibleStream()
    edges = [0, *sorted(min(cut, len(text)) for cut in cuts), len(text)]
    shown = "".join(stream.feed(text[start:end]) for start, end in pairwise(edges))
    assert shown + stream.feed("", final=True) == whole
