"""Which policy binds a database, and the policy stored in it: install, show, remove.

A database with a stored policy is judged by that policy alone, for every command and every dashboard:
--policy and $JOBTUI_POLICY apply only to a database without one (single-user mode, where whoever runs
jobtui chooses their own rules). Installing the first policy is for the database's owner only (the OS
user owning the SQLite file, the PostgreSQL role owning the database); after that, installing another or
removing it needs action.admin.policy under the policy in force. Every change and every refusal is
audited (job 0, "(policy)").

SQLAlchemy is imported only by the functions that need a Store: the dashboard resolves its actor through
the plain driver before the first paint.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from jobtui.engine.db.driver import Reader
from jobtui.engine.domain.permissions import Actor, PermissionRefused, Policy, login_name
from jobtui.engine.domain.states import Perm
from jobtui.engine.domain.text import counted
from jobtui.engine.errors import ReadFailed, Refusal
from jobtui.engine.formats.policy_file import (
    POLICY_SETTING,
    STORED_SOURCE,
    PolicyError,
    StoredPolicy,
    parse_policy,
)
from jobtui.engine.read.policy import stored_policy

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobtui.engine.db.store import Store

POLICY_JOB_NAME = "(policy)"
# The policy a command asks for (--policy, $JOBTUI_POLICY), loaded only if the database has none.
Requested = Callable[[], Policy | None]
# A stored policy row that cannot be read: only the database's owner may replace or remove it.
_DAMAGED = StoredPolicy(text="", installed_by="?", installed_at="")


def stored_policy_in(store: Store) -> StoredPolicy | None:
    """The policy stored in the database, or None (PolicyError when its row is damaged)."""
    with store.read() as s:
        return _stored_in(s)


def _stored_in(s: Session) -> StoredPolicy | None:
    from jobtui.engine.db.models import Setting

    row = s.get(Setting, POLICY_SETTING)
    return StoredPolicy.from_setting(None if row is None else row.value)


def binding_policy(stored: StoredPolicy | None, requested: Requested) -> Policy | None:
    """The policy that judges actions on a database: its stored policy when it has one, whatever was
    requested; only a database without one takes the requested policy (`requested` is not even called
    otherwise, so a --policy file that no longer exists does not matter there)."""
    if stored is not None:
        return stored.policy()
    return requested()


def effective_policy(store: Store, requested: Policy | None) -> Policy | None:
    """`binding_policy` for an open Store and an already loaded requested policy."""
    return binding_policy(stored_policy_in(store), lambda: requested)


def resolve_actor(
    store: Store,
    requested: Requested,
    as_user: str | None = None,
    repairing: bool = False,
    *,
    action: str = "--as",
    about: int | str | None = None,
) -> Actor:
    """The actor of a command on `store`: the OS login (or --as) judged by the binding policy. With
    `repairing` (the policy commands), a stored policy that cannot be read gives the plain OS login:
    PolicyAdmin then lets only the database's owner replace or remove it. A refused --as is audited as
    `action` (the command) on `about`: the id of the job the command names, or the name of the job-0 row
    for what it concerns (say "(envelope 3)")."""
    try:
        stored = stored_policy_in(store)
    except PolicyError:
        if not repairing:
            raise
        return Actor(login_name(), None)
    try:
        policy = binding_policy(stored, requested)
    except PolicyError:
        if not repairing or stored is None:
            raise
        return Actor(login_name(), None)
    try:
        return Actor.resolve(policy, as_user)
    except PermissionRefused as refused:
        # In the audit trail like every other refusal: who really asked (the OS login, not the name
        # they asked for), when, and why.
        record_refused_impersonation(store, policy, action, str(refused), about)
        raise


# What a refused --as is recorded on when the command names no job (or one that does not exist).
IMPERSONATION_JOB_NAME = "(impersonation)"


def record_refused_impersonation(
    store: Store, policy: Policy | None, action: str, reason: str, about: int | str | None
) -> None:
    """Audit a refused --as: on the job `about` names when it exists, else on job 0."""
    from jobtui.engine.db.models import Job
    from jobtui.engine.service.actions import Actions, RefusedOn

    on = RefusedOn(0, about if isinstance(about, str) else IMPERSONATION_JOB_NAME, None)
    if isinstance(about, int) and about != 0:
        # An unreadable job still leaves the refusal, on job 0.
        with contextlib.suppress(Exception), store.read() as s:
            job = s.get(Job, about)
            if job is not None:
                on = RefusedOn(about, job.name, job.status)
    Actions(store, Actor(login_name(), policy)).record_refusal(action, reason, on)


def actor_for_url(url: str, requested: Requested, as_user: str | None = None) -> Actor:
    """The dashboard's actor for the database at `url`, read through the plain driver (no SQLAlchemy).
    A database the driver cannot read as it is (none yet, an older schema) is opened with the Store,
    which creates or migrates it, and read there: never assume "no policy" from a failed read."""
    try:
        stored = stored_policy(Reader(url))
    except ReadFailed:
        stored = _stored_through_store(url)
    except ValueError as exc:
        if isinstance(exc, PolicyError):
            raise
        stored = _stored_through_store(url)
    policy = binding_policy(stored, requested)
    try:
        return Actor.resolve(policy, as_user)
    except PermissionRefused as refused:
        # Rare (a refused --as): the Store, and SQLAlchemy with it, is loaded only to audit it.
        _record_through_store(url, policy, "dashboard", str(refused))
        raise


class PolicyChanged(Refusal):
    """The database's stored policy changed while a dashboard was open under the one before."""


def policy_change(reader: Reader, actor: Actor) -> str | None:
    """What happened to the database's stored policy since `actor` was resolved on it (installed,
    replaced or removed), or None when the policy that binds `actor` still is the one stored. Through the
    plain driver: the dashboard asks every few seconds."""
    try:
        stored = stored_policy(reader)
    except PolicyError:
        return "the database's stored policy is damaged"
    policy = actor.policy
    opened = policy if policy is not None and policy.source.startswith(STORED_SOURCE) else None
    if stored is None:
        return None if opened is None else "the database's policy was removed"
    try:
        current: Policy | None = stored.policy()
    except PolicyError:
        current = None
    if current is not None and current == opened:
        return None
    return (
        f"the database's policy was {'replaced' if opened is not None else 'installed'} by "
        f"{stored.installed_by} at {stored.installed_at}"
    )


def _record_through_store(url: str, policy: Policy | None, action: str, reason: str) -> None:
    from jobtui.engine.db.store import Store

    try:
        store = Store(url)
    except Exception:  # the refusal itself still reaches the user, unaudited
        return
    try:
        record_refused_impersonation(store, policy, action, reason, None)
    finally:
        store.engine.dispose()


def _stored_through_store(url: str) -> StoredPolicy | None:
    from jobtui.engine.db.store import Store

    store = Store(url)
    try:
        return stored_policy_in(store)
    finally:
        store.engine.dispose()


def database_owner(store: Store) -> tuple[bool, str, str]:
    """Whether this process is the database's owner, who owns it, and who this process is there: the OS
    user owning the SQLite file (compared by real uid, as login_name) or the PostgreSQL role owning the
    database (compared with the connection's current_user)."""
    if store.db_path is not None:
        uid = os.stat(store.db_path).st_uid
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return os.getuid() == uid, f"{name} owns {store.db_path}", login_name()
    from sqlalchemy import text

    with store.read() as s:
        owner, current = s.execute(
            text(
                "SELECT pg_get_userbyid(datdba), current_user FROM pg_database "
                "WHERE datname = current_database()"
            )
        ).one()
    return owner == current, f"role {owner} owns it", f"role {current}"


class PolicyAdmin:
    """`jobtui policy install | show | remove` for one actor on one database."""

    def __init__(self, store: Store, actor: Actor) -> None:
        from jobtui.engine.service.actions import Actions

        self.store = store
        self.actor = actor
        self._actions = Actions(store, actor)

    def show(self) -> StoredPolicy | None:
        return stored_policy_in(self.store)

    def install(self, text: str, source: str) -> StoredPolicy:
        """Store `text` (a policy TOML read from `source`) as the database's policy. Refused (audited)
        for an actor who may not; PolicyError for a policy that cannot be used, or one under which no
        user could ever change it again."""
        verb = "policy install"
        with self._actions.transaction() as s:
            current = self._current(s)
            reason, first = self._refusal(verb, current)
            if reason is None:
                new = parse_policy(text, source)
                if not any(new.allows(user, Perm.ADMIN_POLICY, "*") for user in new.users):
                    raise PolicyError(
                        f'{source}: no user holds {Perm.ADMIN_POLICY.value} on every project ("*"): once '
                        "installed, nobody could change or remove it"
                    )
                stored = StoredPolicy(
                    text=text,
                    installed_by=self.actor.user,
                    installed_at=self.store.now().isoformat(),
                    by_user=self.actor.real,
                    source=source,
                )
                self.store.set_setting(s, POLICY_SETTING, stored.to_json())
                digest = hashlib.sha256(text.encode()).hexdigest()[:16]
                comment = (
                    f"from {source}: {counted(len(new.roles), 'role')}, {counted(len(new.users), 'user')}, "
                    f"sha256 {digest}" + ("; the first policy, by the database's owner" if first else "")
                )
                self._audit(s, verb, comment)
                return stored
        self._refuse(verb, reason)

    def remove(self) -> StoredPolicy:
        """Remove the stored policy (the database returns to single-user mode); returns what it was."""
        verb = "policy remove"
        with self._actions.transaction() as s:
            current = self._current(s)
            if current is None:
                reason: str | None = f"{verb}: no policy is stored in this database"
            else:
                reason, _first = self._refusal(verb, current)
            if reason is None and current is not None:
                self.store.set_setting(s, POLICY_SETTING, None)
                self._audit(
                    s, verb, f"the policy installed by {current.installed_by} at {current.installed_at}"
                )
                return current
        self._refuse(verb, reason)

    # -- internals ----------------------------------------------------------------------------------------

    def _current(self, s: Session) -> StoredPolicy | None:
        """The stored policy in this transaction (_DAMAGED for a row that is not one)."""
        try:
            return _stored_in(s)
        except PolicyError:
            return _DAMAGED

    def _refusal(self, verb: str, current: StoredPolicy | None) -> tuple[str | None, bool]:
        """Why the actor may not change the stored policy (None: they may), and whether it is the first."""
        if current is not None:
            policy: Policy | None = None  # unreadable: only the database's owner may replace or remove it
            if current is not _DAMAGED:
                with contextlib.suppress(PolicyError):
                    policy = current.policy()
            if policy is not None:
                judged = Actor(self.actor.user, policy, real=self.actor.real)
                if judged.may(Perm.ADMIN_POLICY, "*"):
                    return None, False
                return f"{verb}: {self.actor.user} lacks {Perm.ADMIN_POLICY.value}", False
        owner, who, me = database_owner(self.store)
        if owner:
            return None, current is None
        if current is None:
            return (
                f"{verb}: {me} does not own this database ({who}); only its owner may install its first "
                "policy",
                False,
            )
        return (
            f"{verb}: the stored policy cannot be read and {me} does not own this database ({who}); "
            "only its owner may replace or remove it",
            False,
        )

    def _audit(self, s: Session, action: str, comment: str) -> None:
        from jobtui.engine.db.models import AuditEvent

        s.add(
            AuditEvent(
                job_id=0,
                job_name=POLICY_JOB_NAME,
                at=self.store.now(),
                who=self.actor.user,
                by_user=self.actor.real,
                action=action,
                comment=comment,
            )
        )
        self.store.touch(s, None, kind="policy")

    def _refuse(self, verb: str, reason: str | None) -> NoReturn:
        from jobtui.engine.service.actions import RefusedOn

        assert reason is not None
        # Recorded after the transaction ended: it changed nothing, and the record must stay.
        self._actions.record_refusal(verb, reason, RefusedOn(0, POLICY_JOB_NAME, None))
        raise PermissionRefused(reason)
