"""Every text the code asks for exists in English and in Spanish: an unknown key raises KeyError at the
moment a user presses the key that shows it."""

from __future__ import annotations

import ast
import functools
import string
from pathlib import Path

import pytest

import jobtui
from jobtui.engine.domain import reasons
from jobtui.i18n import MESSAGES, REFUSALS

PACKAGE = Path(jobtui.__file__).parent
LANGS = ("en", "es")


@functools.cache
def _t_calls() -> list[tuple[str, int, ast.expr]]:
    """(file, line, first argument) of every call to t(...) in jobtui/ (parsed once: five tests read it)."""
    calls: list[tuple[str, int, ast.expr]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "t"
                and node.args
            ):
                calls.append((str(path.relative_to(PACKAGE.parent)), node.lineno, node.args[0]))
    return calls


def test_the_scan_finds_the_calls() -> None:
    literal = [arg for _, _, arg in _t_calls() if isinstance(arg, ast.Constant)]
    assert len(literal) > 50


@pytest.mark.parametrize("lang", LANGS)
def test_every_literal_key_exists(lang: str) -> None:
    missing = [
        f"{where}:{line}: {arg.value!r}"
        for where, line, arg in _t_calls()
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value not in MESSAGES[lang]
    ]
    assert missing == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_formatted_key_prefix_has_keys(lang: str) -> None:
    """t(f"col.{key}"): at least one key starts with the literal prefix."""
    missing = []
    for where, line, arg in _t_calls():
        if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
            prefix = str(arg.values[0].value)
            if not any(key.startswith(prefix) for key in MESSAGES[lang]):
                missing.append(f"{where}:{line}: {prefix!r}…")
    assert missing == []


def test_both_languages_have_the_same_keys() -> None:
    assert set(MESSAGES["en"]) ^ set(MESSAGES["es"]) == set()


@pytest.mark.parametrize("kind", sorted(reasons.FACTS))
def test_spanish_says_every_kind_of_refusal_from_its_facts(kind: str) -> None:
    """A refusal the engine gives in a kind Spanish has no sentence for reaches a Spanish operator in English;
    a sentence naming a fact its kind does not carry raises KeyError when the key is pressed."""
    sentence = REFUSALS["es"][kind]
    named = {field for _, field, _, _ in string.Formatter().parse(sentence) if field}
    assert named <= reasons.FACTS[kind]
    assert {"action"} < named


def test_the_audit_title_exists() -> None:
    from jobtui.i18n import t

    assert t("monitor.audit", "en") == "Audit"
    assert t("monitor.audit", "es") != ""


@pytest.mark.parametrize(
    ("lang", "one", "three"),
    [("en", "1 job", "3 jobs"), ("es", "1 pase", "3 pases")],
)
def test_a_count_says_its_noun_in_the_singular_or_the_plural(lang: str, one: str, three: str) -> None:
    """ "3 job(s)" read as lazy beside everything else the dashboard spells out."""
    from jobtui.i18n import count_text

    assert (count_text(1, "job", lang), count_text(3, "job", lang)) == (one, three)
    assert count_text(0, "op", lang).startswith("0 ") and "(" not in count_text(2, "task", lang)
