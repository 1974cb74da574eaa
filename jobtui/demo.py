"""`jobtui demo`: definitions of small shell ops that sleep and print, submitted so every status shows."""

from __future__ import annotations

import textwrap

from jobtui.engine.actions import Actions
from jobtui.engine.definitions import parse_definition
from jobtui.engine.permissions import Actor, login_name
from jobtui.engine.store import Store

DEMO_DEFINITIONS: dict[str, str] = {
    "build-and-deploy": """
        name = "deploy-web"
        type = "deploy"
        project = "payments"
        natures = ["java"]
        targets = ["web-01", "web-02", "web-03"]
        [[pre]]
        name = "build"
        run = "echo compiling; sleep 3; echo done"
        [[run]]
        name = "deploy"
        per_target = true
        run = "echo deploying to $JOBTUI_TARGET; sleep 4"
        rollback = "echo undeploy $JOBTUI_TARGET"
        [[post]]
        name = "notify"
        run = "echo notify team"
    """,
    "needs-approval": """
        name = "release-db"
        type = "release"
        project = "payments"
        approval = true
        approvers = ["role:release"]
        [[pre]]
        run = "echo plan; sleep 2"
        [[run]]
        run = "echo migrate; sleep 5"
    """,
    "trapped": """
        name = "patch-routers"
        project = "network"
        trap_timeout = "30m"
        targets = ["rt-1", "rt-2"]
        [[run]]
        name = "patch"
        per_target = true
        run = "echo patching $JOBTUI_TARGET; sleep 2; test $JOBTUI_TARGET != rt-2"
        on_error = "trap"
    """,
    "fails": """
        name = "nightly-report"
        project = "analytics"
        [[run]]
        run = "echo querying; sleep 3; echo 'disk full' >&2; exit 2"
        [[post]]
        run = "echo mail the on-call"
    """,
    "partial": """
        name = "firmware-rollout"
        project = "network"
        targets = ["dev-a", "dev-b", "dev-c"]
        [[run]]
        per_target = true
        run = "sleep 2; test $JOBTUI_TARGET != dev-b"
    """,
    "rolls-back": """
        name = "schema-change"
        project = "payments"
        rollback_on_error = true
        [[run]]
        name = "alter"
        run = "echo alter table; sleep 2"
        rollback = "echo restore table; sleep 1"
        [[run]]
        name = "verify"
        run = "sleep 2; exit 1"
    """,
    "long": """
        name = "backup"
        project = "ops"
        [[run]]
        run = "for i in $(seq 1 60); do echo chunk $i; sleep 1; done"
    """,
    "later": """
        name = "weekend-maintenance"
        project = "ops"
        [schedule]
        at = "+2h"
        [[run]]
        run = "echo maintenance"
    """,
    "expires": """
        name = "missed-window"
        project = "ops"
        approval = true
        [schedule]
        at = "+20s"
        max_start = "+5s"
        [[run]]
        run = "true"
    """,
}


def seed_demo(store: Store) -> list[int]:
    actions = Actions(store, Actor(login_name()))
    ids = []
    for name, text in DEMO_DEFINITIONS.items():
        ids.append(actions.submit(parse_definition(textwrap.dedent(text), f"demo/{name}.toml")))
    return ids
