"""The dashboard's config file: which view it opens on, and a bad value said in one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jobtui.config import ConfigError, config_path, load_config, save_theme
from jobtui.keymap import KeymapError, load_keymap


def test_the_config_file_lives_in_the_config_dir_unless_jobtui_config_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBTUI_CONFIG", raising=False)
    assert config_path().name == "config.toml" and config_path().parent.name == "jobtui"
    monkeypatch.setenv("JOBTUI_CONFIG", str(tmp_path / "mine.toml"))
    assert config_path() == tmp_path / "mine.toml"


def test_a_missing_file_sets_nothing(tmp_path: Path) -> None:
    assert load_config(tmp_path / "none.toml").view is None


@pytest.mark.parametrize("view", ["jobs", "envelopes"])
def test_view_chooses_the_first_view(view: str, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'view = "{view}"\n')
    assert load_config(path).view == view


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('view = "tree"\n', 'view must be "jobs" or "envelopes", not \'tree\''),
        ("view = 2\n", 'view must be "jobs" or "envelopes", not 2'),
        ('veiw = "jobs"\n', 'unknown setting "veiw" (known: view, alerts, theme)'),
        ("view = \n", "Invalid value"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_field(
    text: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    said: Any = str(info.value)
    assert said.startswith(f"{path}: ") and message in said and "\n" not in said


# A FIFO opened for reading waits for a writer, forever if none comes: each of these hung without the fix.


@pytest.mark.timeout(10)
def test_a_config_file_that_is_a_fifo_is_refused_at_once_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jobtui.cli

    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as info:
        load_config(fifo)
    assert str(info.value) == f"{fifo}: not a regular file"
    with pytest.raises(ConfigError, match="not a regular file"):
        save_theme("nord", fifo)  # picking a theme reads the file back first
    # The dashboard stops before it takes the terminal: one line, exit 2.
    monkeypatch.setenv("JOBTUI_CONFIG", str(fifo))
    assert jobtui.cli.main(["--db", f"sqlite:///{tmp_path / 'jobs.db'}"]) == 2
    assert capsys.readouterr().err == f"{fifo}: not a regular file\n"


@pytest.mark.timeout(10)
def test_a_keys_file_that_is_a_fifo_is_refused_at_once_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "keys.toml"
    os.mkfifo(fifo)
    with pytest.raises(KeymapError) as info:  # the dashboard shows it as a notification
        load_keymap(fifo, {"approve"})
    assert str(info.value) == f"{fifo}: not a regular file"


def test_a_keys_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    """It escaped as a UnicodeDecodeError (a crash of the dashboard), not a KeymapError."""
    path = tmp_path / "keys.toml"
    path.write_bytes(b'[keys]\napprove = "\xff"\n')
    with pytest.raises(KeymapError) as info:
        load_keymap(path, {"approve"})
    assert str(info.value) == f"{path}: cannot read file: not UTF-8 text (invalid start byte)"
