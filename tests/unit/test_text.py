"""`visible`: text from data made safe for a terminal (issue 14, item 5)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobtui.engine.domain.text import is_visible, visible

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")
# Text rich in what matters: control characters, ESC sequences, markup brackets, and anything else.
texts = st.text(
    st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x9F),
        st.sampled_from(["\x1b", "[", "]", "/", "\n", "\t", "\u202e", "\u2066", "\u200b", "\u200d"]),
        st.characters(),
    )
)


@given(texts)
def test_visible_leaves_no_control_character_and_is_stable(text: str) -> None:
    shown = visible(text)
    assert CONTROL.search(shown) is None
    assert is_visible(shown)
    assert visible(shown) == shown
    if CONTROL.search(text) is None:
        assert shown == text  # printable text is left alone


@given(texts)
def test_visible_keeps_the_characters_asked_for(text: str) -> None:
    shown = visible(text, keep="\n\t")
    assert set(CONTROL.findall(shown)) <= {"\n", "\t"}
    assert shown.count("\n") == text.count("\n") and shown.count("\t") == text.count("\t")
    assert visible(text) == visible(shown)  # keeping is only a choice of what to show


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
    ],
)
def test_visible_forms(text: str, shown: str) -> None:
    assert visible(text) == shown
