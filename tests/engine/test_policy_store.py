"""The policy lives with the database: installed by its owner first, then only by holders of
action.admin.policy; once installed it binds every command and dashboard, whatever --policy or
$JOBTUI_POLICY say."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from jobtui.engine.db.store import Store
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor, PermissionRefused, login_name
from jobtui.engine.formats.policy_file import PolicyError, parse_policy
from jobtui.engine.service.actions import Actions, Refused
from jobtui.engine.service.policy import (
    PolicyAdmin,
    actor_for_url,
    database_owner,
    effective_policy,
    resolve_actor,
    stored_policy_in,
)
from tests.support.helpers import definition, status_of
from tests.support.transitions import query

BACKENDS = ("sqlite", "postgresql")

ME = login_name()
OTHER_UID = 12345
ROLE = "jobtui_someone"

# ME may administer the policy and view, but cancels nothing.
ADMIN_VIEWER = f"""\
[roles.admin]
actions = ["action.admin.policy", "action.job.view_monitor"]

[users]
"{ME}" = ["admin"]
"""

# ME only views; alice administers the policy.
ME_VIEWER = f"""\
[roles.viewer]
actions = ["action.job.view_monitor"]

[roles.admin]
actions = ["action.admin.policy"]

[users]
"{ME}" = ["viewer"]
alice = ["admin"]
"""

# What a caller would like to be judged by: every right.
EVERYTHING = f"""\
[roles.all]
actions = ["action.job.view_monitor", "action.job.cancel", "action.job.create", "action.admin.policy"]

[users]
"{ME}" = ["all"]
"""


def policy_rows(store: Store) -> list[tuple[object, ...]]:
    return query(
        store,
        "SELECT who, action, refused, comment FROM audit "
        "WHERE job_id = 0 AND job_name = '(policy)' ORDER BY id",
    )


def admin(store: Store, user: str = ME) -> PolicyAdmin:
    return PolicyAdmin(store, Actor(user, effective_policy(store, None)))


def not_the_owner(store: Store, db_url: str, clock: FakeClock) -> Iterator[Store]:
    """The same database, opened by someone who does not own it: the SQLite file handed to another uid,
    or a PostgreSQL role that may use the tables but does not own the database."""
    if store.is_sqlite:
        if os.geteuid() != 0:
            pytest.skip("handing the database file to another uid needs root")
        assert store.db_path is not None
        os.chown(store.db_path, OTHER_UID, -1)
        yield store
        return
    url = make_url(db_url)
    server = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
    own = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(own, autocommit=True) as conn:
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}")
        conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    other = Store(url.set(username=ROLE).render_as_string(hide_password=False), clock=clock)
    yield other
    other.engine.dispose()


@pytest.fixture
def stranger(store: Store, db_url: str, clock: FakeClock) -> Iterator[Callable[[], Store]]:
    """Call it to open the database as someone who does not own it (from then on)."""
    opened: list[Iterator[Store]] = []

    def become() -> Store:
        opened.append(not_the_owner(store, db_url, clock))
        return next(opened[-1])

    yield become
    for each in opened:
        next(each, None)


def test_the_owner_installs_the_first_policy_and_show_returns_it(store: Store) -> None:
    assert database_owner(store)[0], "the test process created (owns) the database"
    assert stored_policy_in(store) is None
    stored = admin(store).install(ADMIN_VIEWER, "admin.toml")
    shown = stored_policy_in(store)
    assert shown == stored
    assert shown is not None
    assert shown.text == ADMIN_VIEWER, "stored exactly as installed"
    assert shown.installed_by == ME and shown.source == "admin.toml" and shown.installed_at
    [(who, action, refused, comment)] = policy_rows(store)
    assert (who, action, refused) == (ME, "policy install", False)
    assert "the first policy, by the database's owner" in str(comment)


def test_someone_who_does_not_own_the_database_cannot_install_the_first_policy(
    store: Store, stranger: Callable[[], Store]
) -> None:
    other = stranger()
    assert not database_owner(other)[0]
    with pytest.raises(PermissionRefused, match="does not own this database"):
        PolicyAdmin(other, Actor(ME, parse_policy(EVERYTHING, "mine.toml"))).install(EVERYTHING, "mine.toml")
    assert stored_policy_in(store) is None
    [(who, action, refused, comment)] = policy_rows(store)
    assert (who, action, refused) == (ME, "policy install", True)
    assert "only its owner may install its first policy" in str(comment)


def test_a_stored_policy_binds_whatever_the_caller_asks_for(store: Store, actions: Actions) -> None:
    job_id = actions.submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
    admin(store).install(ME_VIEWER, "viewer.toml")
    asked = parse_policy(EVERYTHING, "everything.toml")
    for requested in (None, asked):
        actor = resolve_actor(store, lambda requested=requested: requested)  # type: ignore[misc]
        assert actor.policy is not None and actor.policy.source.startswith("the database's policy")
        with pytest.raises(Refused, match=f"{ME} lacks action.job.cancel"):
            Actions(store, actor).cancel(job_id)
    assert status_of(store, job_id) == "READY"
    # The dashboard's fast resolution through the plain driver reads the same row.
    url = store.url
    assert actor_for_url(url, lambda: asked).policy == resolve_actor(store, lambda: asked).policy


def test_removing_or_replacing_the_policy_needs_action_admin_policy(store: Store) -> None:
    admin(store).install(ME_VIEWER, "viewer.toml")
    # The database's owner holds no special right once a policy is installed.
    with pytest.raises(PermissionRefused, match=f"policy remove: {ME} lacks action.admin.policy"):
        admin(store).remove()
    with pytest.raises(PermissionRefused, match=f"policy install: {ME} lacks action.admin.policy"):
        admin(store).install(EVERYTHING, "everything.toml")
    assert stored_policy_in(store) is not None and stored_policy_in(store).text == ME_VIEWER  # type: ignore[union-attr]
    # alice holds it: she replaces it, then removes it.
    admin(store, "alice").install(ADMIN_VIEWER, "admin.toml")
    assert stored_policy_in(store).text == ADMIN_VIEWER  # type: ignore[union-attr]
    removed = admin(store).remove()
    assert removed.text == ADMIN_VIEWER
    assert stored_policy_in(store) is None
    asked = parse_policy(EVERYTHING, "everything.toml")
    assert effective_policy(store, asked) is asked, "without a stored policy, the requested one binds"
    assert [(row[0], row[1], row[2]) for row in policy_rows(store)] == [
        (ME, "policy install", False),
        (ME, "policy remove", True),
        (ME, "policy install", True),
        ("alice", "policy install", False),
        (ME, "policy remove", False),
    ]


def test_a_policy_nobody_could_change_again_is_not_installed(store: Store) -> None:
    locked = f'[roles.viewer]\nactions = ["action.job.view_monitor"]\n[users]\n"{ME}" = ["viewer"]\n'
    with pytest.raises(PolicyError, match="nobody could change or remove it"):
        admin(store).install(locked, "locked.toml")
    with pytest.raises(PolicyError, match="unknown action"):
        admin(store).install('[roles.x]\nactions = ["action.bogus"]\n', "bogus.toml")
    assert stored_policy_in(store) is None


def test_a_non_owner_cannot_remove_a_stored_policy_without_the_right(
    store: Store, stranger: Callable[[], Store]
) -> None:
    admin(store).install(ME_VIEWER, "viewer.toml")
    other = stranger()
    with pytest.raises(PermissionRefused, match=r"lacks action\.admin\.policy"):
        PolicyAdmin(other, Actor(ME, effective_policy(other, None))).remove()
    # The right, not ownership, is what counts once installed: alice may, from any account.
    PolicyAdmin(other, Actor("alice", effective_policy(other, None))).remove()
    assert stored_policy_in(store) is None


def test_the_owner_of_a_sqlite_file_is_its_uid(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'own.db'}")
    owner, who, me = database_owner(store)
    assert owner
    assert who == f"{pwd.getpwuid(os.getuid()).pw_name} owns {store.db_path}"
    assert me == login_name()


def test_a_damaged_stored_policy_fails_closed_and_only_the_owner_repairs_it(
    store: Store, stranger: Callable[[], Store]
) -> None:
    with store.write() as s:
        store.set_setting(s, "policy", "not a policy")
    with pytest.raises(PolicyError, match="damaged"):
        resolve_actor(store, lambda: None)
    with pytest.raises(PolicyError, match="damaged"):
        actor_for_url(store.url, lambda: None)
    repairing = resolve_actor(store, lambda: None, repairing=True)
    assert repairing == Actor(ME, None)
    PolicyAdmin(store, repairing).install(ADMIN_VIEWER, "admin.toml")
    assert stored_policy_in(store).text == ADMIN_VIEWER  # type: ignore[union-attr]
    with store.write() as s:
        store.set_setting(s, "policy", "not a policy")
    other = stranger()
    with pytest.raises(PermissionRefused, match="cannot be read"):
        PolicyAdmin(other, Actor(ME)).remove()
