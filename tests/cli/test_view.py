"""`--view jobs|envelopes` and the config file's `view` choose the view the dashboard opens on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.dashboard import Opened, record_openings


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Opened]:
    monkeypatch.delenv("JOBTUI_POLICY", raising=False)
    return record_openings(monkeypatch)


def test_view_comes_from_the_flag_else_the_config_file_else_jobs(
    opened: list[Opened], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobtui.cli import main

    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "config.toml"
    monkeypatch.setenv("JOBTUI_CONFIG", str(config))
    assert main(["--db", db]) == 0
    assert main(["--db", db, "--view", "envelopes"]) == 0
    config.write_text('view = "envelopes"\n')
    assert main(["--db", db]) == 0
    assert main(["--db", db, "--view", "jobs"]) == 0
    assert [one.view for one in opened] == ["jobs", "envelopes", "envelopes", "jobs"]


def test_a_bad_view_is_one_line_and_exit_2(
    opened: list[Opened],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from jobtui.cli import main

    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "config.toml"
    config.write_text('view = "tree"\n')
    monkeypatch.setenv("JOBTUI_CONFIG", str(config))
    assert main(["--db", db]) == 2
    assert capsys.readouterr().err == f'{config}: view must be "jobs" or "envelopes", not \'tree\'\n'
    with pytest.raises(SystemExit) as exited:
        main(["--db", db, "--view", "tree"])
    assert exited.value.code == 2
    assert "--view: invalid choice: 'tree'" in capsys.readouterr().err
    assert opened == []


def test_alerts_come_from_no_alerts_else_the_config_file_else_on(
    opened: list[Opened], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobtui.cli import main

    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    config = tmp_path / "config.toml"
    monkeypatch.setenv("JOBTUI_CONFIG", str(config))
    assert main(["--db", db]) == 0
    assert main(["--db", db, "--no-alerts"]) == 0
    config.write_text('[alerts]\nstatuses = ["TRAPPED"]\n')
    assert main(["--db", db]) == 0
    config.write_text("[alerts]\nenabled = false\n")
    assert main(["--db", db]) == 0
    assert [(one.alerts.enabled, sorted(one.alerts.statuses)) for one in opened] == [
        (True, ["ABEND", "APPROVAL", "ERROR", "TRAPPED"]),
        (False, ["ABEND", "APPROVAL", "ERROR", "TRAPPED"]),
        (True, ["TRAPPED"]),
        (False, ["ABEND", "APPROVAL", "ERROR", "TRAPPED"]),
    ]
