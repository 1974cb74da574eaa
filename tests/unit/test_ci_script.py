"""The CI script names tests by path: a move of a test file must not leave CI pointing at nothing; and it
makes its virtualenv with the interpreter `dev/python` picks, as the README's set-up commands do."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_file_the_ci_script_names_exists() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    named = sorted(set(re.findall(r"(tests/[\w/]+\.py)", script)))
    assert named, "the CI script names no test file; the regex no longer matches its form"
    missing = [path for path in named if not (ROOT / path).is_file()]
    assert missing == []


def test_dev_python_names_an_interpreter_that_can_make_the_virtualenv() -> None:
    """The README's set-up commands and CI make their virtualenv with what `dev/python` prints: a Python 3.11+
    with its venv module, the system's own when it is one (built with PGO and LTO where pyenv's is not)."""
    printed = subprocess.run([ROOT / "dev" / "python"], capture_output=True, text=True, check=True).stdout
    python = printed.strip()
    assert printed == python + "\n" and Path(python).is_absolute() and os.access(python, os.X_OK), printed
    check = "import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))"
    assert subprocess.run([python, "-c", check]).returncode == 0
    system = Path("/usr/bin/python3")
    if system.exists() and subprocess.run([system, "-c", check], capture_output=True).returncode == 0:
        assert python == str(system)
