"""Who acts is the OS account of the process's real uid: LOGNAME and USER cannot change it."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from jobtui.engine.domain.permissions import login_name
from tests.support.template_db import migrated_sqlite

ME = pwd.getpwuid(os.getuid()).pw_name


def test_the_login_name_is_the_real_uids_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "root-impostor")
    monkeypatch.setenv("USER", "root-impostor")
    monkeypatch.setenv("LNAME", "root-impostor")
    monkeypatch.setenv("USERNAME", "root-impostor")
    assert login_name() == ME


def test_a_forged_logname_neither_grants_rights_nor_reaches_the_audit_trail(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    # The impostor's name holds every right; the real user only views.
    policy.write_text(
        '[roles.admin]\nactions = ["action.job.create", "action.job.view_monitor"]\nprojects = ["*"]\n'
        '[roles.viewer]\nactions = ["action.job.view_monitor"]\nprojects = ["*"]\n'
        f'[users]\nroot-impostor = ["admin"]\n"{ME}" = ["viewer"]\n'
    )
    definition = tmp_path / "job.toml"
    definition.write_text('name = "j"\n[[run]]\nrun = "true"\n')
    db = migrated_sqlite(tmp_path / "jobs.db")
    env = {**os.environ, "LOGNAME": "root-impostor", "USER": "root-impostor", "JOBTUI_POLICY": str(policy)}
    env.pop("JOBTUI_DB", None)

    def jobtui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jobtui.cli", *args, "--db", db],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    # Submitting needs action.job.create, which only the impostor's name has: refused as the real user.
    refused = jobtui("submit", str(definition))
    assert refused.returncode == 1, refused.stderr
    assert f"{ME} lacks action.job.create" in refused.stderr
    assert "root-impostor" not in refused.stderr
    # Without the policy the real user submits; the audit trail names the real user.
    env.pop("JOBTUI_POLICY")
    submitted = jobtui("submit", str(definition), "--json")
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["id"]
    audit = jobtui("audit", str(job_id), "--json")
    assert {row["who"] for row in json.loads(audit.stdout)} == {ME}
