"""The CI script names tests by path: a move of a test file must not leave CI pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_file_the_ci_script_names_exists() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    named = sorted(set(re.findall(r"(tests/[\w/]+\.py)", script)))
    assert named, "the CI script names no test file; the regex no longer matches its form"
    missing = [path for path in named if not (ROOT / path).is_file()]
    assert missing == []
