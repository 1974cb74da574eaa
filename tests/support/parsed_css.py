"""Textual CSS parsed once a test process, not once an app.

Textual keeps the rules it parsed per stylesheet, and every app has a stylesheet of its own: each of the
hundreds of dashboards the tests open parsed again the same CSS (every widget's and jobtui's own), a
twentieth of the dashboard tests' time. Rules depend only on the CSS, where it was read from and the
theme's variables, and nothing changes them once parsed (Textual itself hands the same rules to each of
its parses). A dashboard opens one app, and parses its CSS once, anyway: this is the tests' concern.
"""

from __future__ import annotations

from typing import Any

from textual.css.model import RuleSet
from textual.css.stylesheet import CSSLocation, Stylesheet

_parse_rules = Stylesheet._parse_rules
_PARSED: dict[tuple[Any, ...], list[RuleSet]] = {}


def _parse_rules_once_a_process(
    self: Stylesheet,
    css: str,
    read_from: CSSLocation,
    is_default_rules: bool = False,
    tie_breaker: int = 0,
    scope: str = "",
) -> list[RuleSet]:
    key = (css, read_from, is_default_rules, tie_breaker, scope, tuple(self._variables.items()))
    rules = _PARSED.get(key)
    if rules is None:
        rules = _parse_rules(self, css, read_from, is_default_rules, tie_breaker, scope)
        _PARSED[key] = rules
    return rules


def parse_css_once_a_process() -> None:
    Stylesheet._parse_rules = _parse_rules_once_a_process  # type: ignore[method-assign]
