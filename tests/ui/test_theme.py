"""The theme the user picks is kept in the config file, and the next dashboard opens with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobtui.config import load_config
from jobtui.engine.db.store import Store
from tests.support.pilot import app_for, until


async def test_a_picked_theme_is_kept_and_the_next_dashboard_opens_with_it(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('view = "jobs"\n\n[alerts]\nstatuses = ["TRAPPED"]\n')
    monkeypatch.setenv("JOBTUI_CONFIG", str(config))
    async with app_for(store).run_test(size=(100, 30)) as pilot:
        assert pilot.app.theme != "textual-light"
        pilot.app.theme = "textual-light"
        await until(pilot, lambda: load_config(config).theme == "textual-light", "the theme kept")
    kept = load_config(config)
    assert kept.view == "jobs" and kept.alerts.statuses == {"TRAPPED"}  # the rest as it was
    async with app_for(store).run_test(size=(100, 30)) as pilot:
        assert pilot.app.theme == "textual-light"
        pilot.app.theme = "nord"
        await until(pilot, lambda: load_config(config).theme == "nord", "the new pick kept")
    assert config.read_text().count("theme =") == 1


async def test_an_unknown_saved_theme_leaves_the_default(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('theme = "no-such-theme"\n')
    monkeypatch.setenv("JOBTUI_CONFIG", str(config))
    async with app_for(store).run_test(size=(100, 30)) as pilot:
        assert pilot.app.theme == "textual-dark"
