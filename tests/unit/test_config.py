"""The dashboard's config file: which view it opens on, and a bad value said in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobtui.config import ConfigError, config_path, load_config


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
