"""Viewing needs action.job.view_monitor on the job's project in every command that shows a job: `log`,
`audit`, `envelope` refuse (exit 1), `envelopes` and `jobs` list only what the actor may view; the
dashboard resolves --policy and --as like every command; `--version`. The scoped commands run in this
process (`jobtui.cli.main`) on a real database, for speed: tests/cli/test_cli.py runs the console script."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import JOBTUI, USER, Cli, describe, make_cli, refused, submitted_id
from tests.support.dashboard import record_openings

WEB = """\
    name = "{name}"
    project = "web"

    [[run]]
    run = "echo {name}"
"""
OPS = WEB.replace('"web"', '"ops"')


def lacks(proc: subprocess.CompletedProcess[str], verb: str, project: str) -> None:
    refused(proc)
    expected = f"{verb}: {USER} lacks action.job.view_monitor on project {project}\n"
    assert proc.stderr == expected, describe(proc)


def envelope_id(proc: subprocess.CompletedProcess[str]) -> int:
    import json

    assert proc.returncode == 0, describe(proc)
    return int(json.loads(proc.stdout)["envelope"])


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, dict[str, Any]]:
    """Web's jobs and envelope first, then ops's: the newest job is one that the web viewer may not see."""
    cli = make_cli(tmp_path_factory.mktemp("scope"), in_process=True)
    for name, text in (
        ("web.toml", WEB.format(name="web-one")),
        ("web-a.toml", WEB.format(name="web-a")),
        ("web-b.toml", WEB.format(name="web-b")),
        ("ops.toml", OPS.format(name="ops-one")),
        ("ops-a.toml", OPS.format(name="ops-a")),
    ):
        cli.write(name, text)
    cli.write(
        "web-viewer.toml",
        f"""\
        [roles.web_viewer]
        actions = ["action.job.view_monitor"]
        projects = ["web"]

        [users]
        "{USER}" = ["web_viewer"]
        """,
    )
    ids: dict[str, Any] = {"web": submitted_id(cli("submit", cli.files["web.toml"], "--json"))}
    ids["web_env"] = envelope_id(
        cli("submit", "--envelope", "webenv", cli.files["web-a.toml"], cli.files["web-b.toml"], "--json")
    )
    ids["ops"] = submitted_id(cli("submit", cli.files["ops.toml"], "--json"))
    ids["ops_env"] = envelope_id(cli("submit", "--envelope", "opsenv", cli.files["ops-a.toml"], "--json"))
    return cli, ids


def test_log_audit_and_envelope_refuse_jobs_of_projects_the_user_may_not_view(
    scoped: tuple[Cli, dict[str, Any]],
) -> None:
    cli, ids = scoped
    policy = cli.files["web-viewer.toml"]
    log, audit, envelope, log_ok, audit_ok, envelope_ok, unknown = cli.many(
        ("log", ids["ops"], "--policy", policy),
        ("audit", ids["ops"], "--policy", policy, "--json"),
        ("envelope", ids["ops_env"], "--policy", policy, "--json"),
        ("log", ids["web"], "--policy", policy),
        ("audit", ids["web"], "--policy", policy, "--json"),
        ("envelope", ids["web_env"], "--policy", policy, "--json"),
        ("log", 4242, "--policy", policy),
    )
    lacks(log, "log", "ops")
    lacks(audit, "audit", "ops")
    lacks(envelope, "envelope", "ops")
    for proc in (log, audit, envelope):
        assert proc.stdout == "", describe(proc)
    for proc in (log_ok, audit_ok, envelope_ok):
        assert proc.returncode == 0, describe(proc)
    assert unknown.returncode == 2, describe(unknown)  # an unknown id is still bad input


def test_envelopes_and_jobs_list_only_projects_the_user_may_view(scoped: tuple[Cli, dict[str, Any]]) -> None:
    import json

    cli, ids = scoped
    policy = cli.files["web-viewer.toml"]
    envelopes, jobs, newest, everything, queue, whole_queue = cli.many(
        ("envelopes", "--policy", policy, "--json"),
        ("jobs", "--policy", policy, "--json"),
        ("jobs", "--policy", policy, "--limit", "1", "--json"),
        ("envelopes", "--json"),  # single-user mode sees them all
        ("queue", "status", "--policy", policy, "--json"),
        ("queue", "status", "--json"),
    )
    for proc in (envelopes, jobs, newest, everything, queue, whole_queue):
        assert proc.returncode == 0, describe(proc)
    # The queue's counts are of the jobs the user may view (they counted ops's too).
    assert (json.loads(queue.stdout)["queued"], json.loads(whole_queue.stdout)["queued"]) == (3, 5)
    assert [e["id"] for e in json.loads(envelopes.stdout)] == [ids["web_env"]]
    assert [e["id"] for e in json.loads(everything.stdout)] == [ids["web_env"], ids["ops_env"]]
    listed = json.loads(jobs.stdout)
    assert len(listed) == 3 and {j["project"] for j in listed} == {"web"}
    # --limit counts the jobs the user may view: the newest visible one, not an empty list.
    assert [j["id"] for j in json.loads(newest.stdout)] == [listed[0]["id"]]


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    proc = make_cli(tmp_path)("--version")
    assert proc.stdout == f"jobtui {version('jobtui')}\n", describe(proc)


def test_dashboard_refuses_as_without_impersonation_before_opening(tmp_path: Path) -> None:
    cli = make_cli(tmp_path)
    nothing = cli.write(
        "nothing.toml",
        f"""\
        [roles.nobody]
        actions = []

        [users]
        "{USER}" = ["nobody"]
        """,
    )
    try:
        proc = subprocess.run(
            [*JOBTUI, "--policy", str(nothing), "--as", "other"],
            env=cli.env,
            cwd=cli.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the dashboard opened for --as other without action.admin.impersonate")
    refused(proc)
    assert proc.stderr == f"jobtui --as other: {USER} lacks action.admin.impersonate\n", describe(proc)


def test_dashboard_opens_as_the_actor_the_policy_and_as_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Actor the CLI resolves from --policy/--as is the one run_app gets (the monitor's scope)."""
    from jobtui.cli import main

    monkeypatch.delenv("JOBTUI_POLICY", raising=False)
    cli = make_cli(tmp_path)
    admin = cli.write(
        "admin.toml",
        f"""\
        [roles.admin]
        actions = ["action.admin.impersonate"]

        [users]
        "{USER}" = ["admin"]
        """,
    )
    opened = record_openings(monkeypatch)
    db = f"sqlite:///{tmp_path / 'jobs.db'}"
    assert main(["--db", db, "--policy", str(admin), "--readonly"]) == 0
    assert main(["--db", db, "--policy", str(admin), "--as", "alice"]) == 0
    first, second = opened
    url, readonly, mine, alice = first.url, first.readonly, first.actor, second.actor
    assert url == db and readonly
    assert mine is not None and mine.user == USER and mine.policy.source == str(admin)
    assert alice is not None and alice.user == "alice" and alice.policy.source == str(admin)
