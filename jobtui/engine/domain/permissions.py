"""Who may do what: a policy maps OS users to roles, roles to actions per project.

No policy file means single-user mode: the local user may do everything. With a policy, deny by default.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable
from dataclasses import dataclass, field

from jobtui.engine.domain import reasons
from jobtui.engine.domain.reasons import Reason
from jobtui.engine.domain.states import Perm
from jobtui.engine.errors import BadInput, Refusal

KNOWN_PERMISSIONS = frozenset(p.value for p in Perm)


class PermissionRefused(Refusal, PermissionError):
    """The actor lacks a permission; str() is the reason shown to the operator."""


@dataclass(frozen=True)
class Role:
    name: str
    actions: frozenset[str]
    projects: frozenset[str]

    def grants(self, action: str, project: str) -> bool:
        return action in self.actions and ("*" in self.projects or project in self.projects)


@dataclass(frozen=True)
class Policy:
    source: str
    roles: dict[str, Role] = field(default_factory=dict)
    users: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def roles_of(self, user: str) -> tuple[str, ...]:
        return self.users.get(user, ())

    def allows(self, user: str, action: str, project: str) -> bool:
        return any(
            self.roles[name].grants(action, project) for name in self.roles_of(user) if name in self.roles
        )


def login_name() -> str:
    """The account name of the process's real uid. Never LOGNAME/USER: anyone can set those, and the
    audit trail and every permission check hang on this name."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no passwd entry (containers): its number is still unforgeable
        return str(uid)


@dataclass(frozen=True)
class Actor:
    """The user an action is done as, and the policy that judges them."""

    user: str
    policy: Policy | None = None
    # Who really acts when `user` is impersonated (--as): the audit trail records both.
    real: str | None = field(default=None, compare=False)

    @classmethod
    def resolve(cls, policy: Policy | None, as_user: str | None = None) -> Actor:
        """The OS login; `--as USER` only for holders of action.admin.impersonate. An empty --as is bad
        input: it named nobody, and an audit row whose `who` is empty tells nobody who acted."""
        if as_user is not None and not as_user.strip():
            raise BadInput("--as: an empty user name (give the login name to act as)")
        real = cls(login_name(), policy)
        if as_user is None or as_user == real.user:
            return real
        if not real.may(Perm.IMPERSONATE, "*"):
            raise PermissionRefused(f"--as {as_user}: {real.user} lacks {Perm.IMPERSONATE.value}")
        return cls(as_user, policy, real=real.user)

    @property
    def single_user(self) -> bool:
        return self.policy is None

    def may(self, permission: Perm | str, project: str) -> bool:
        if self.policy is None:
            return True
        return self.policy.allows(self.user, str(permission), project)

    def may_approve(self, project: str, approvers: Iterable[str]) -> bool:
        if self.may(Perm.APPROVE_ALL, project):
            return True
        if self.policy is None:
            return True
        listed = set(approvers)
        if self.user in listed:
            return True
        return any(f"role:{role}" in listed for role in self.policy.roles_of(self.user))

    def require(self, action: str, permission: Perm | str, project: str) -> None:
        if not self.may(permission, project):
            value = Perm(permission).value
            raise PermissionRefused(
                Reason(
                    f"{action}: {self.user} lacks {value} on project {project}",
                    reasons.PERMISSION,
                    action=action,
                    user=self.user,
                    permission=value,
                    project=project,
                )
            )
