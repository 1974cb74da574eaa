"""Who may do what: a policy file maps OS users to roles, roles to actions per project.

No policy file means single-user mode: the local user may do everything. With a policy, deny by default.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jobtui.engine.states import Perm

KNOWN_PERMISSIONS = frozenset(p.value for p in Perm)


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the field."""


class PermissionRefused(PermissionError):
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


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: invalid TOML: {exc}") from exc
    errors: list[str] = []
    unknown = set(data) - {"roles", "users"}
    errors += [
        f'{source}: unknown key "{key}" (expected [roles.NAME] and [users])' for key in sorted(unknown)
    ]
    roles: dict[str, Role] = {}
    for name, body in _table(data, "roles", source, errors).items():
        where = f"{source}: [roles.{name}]"
        if not isinstance(body, dict):
            errors.append(f"{where}: expected a table")
            continue
        for key in sorted(set(body) - {"actions", "projects"}):
            errors.append(f'{where}: unknown key "{key}" (expected "actions", "projects")')
        actions = _strings(body.get("actions", []), f'{where} "actions"', errors)
        for action in actions:
            if action not in KNOWN_PERMISSIONS:
                errors.append(f'{where} "actions": unknown action "{action}"')
        projects = _strings(body.get("projects", ["*"]), f'{where} "projects"', errors)
        roles[name] = Role(name, frozenset(actions), frozenset(projects))
    users: dict[str, tuple[str, ...]] = {}
    for user, role_names in _table(data, "users", source, errors).items():
        names = _strings(role_names, f'{source}: [users] "{user}"', errors)
        for role in names:
            if role not in roles:
                errors.append(f'{source}: [users] "{user}": unknown role "{role}"')
        users[user] = tuple(names)
    if errors:
        raise PolicyError("\n".join(errors))
    return Policy(source, roles, users)


def load_policy(path: str | os.PathLike[str] | None) -> Policy | None:
    if path is None or str(path) == "":
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror}") from exc
    return parse_policy(text, str(path))


def _table(data: dict[str, object], key: str, source: str, errors: list[str]) -> dict[str, object]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        errors.append(f'{source}: "{key}" must be a table')
        return {}
    return value


def _strings(value: object, where: str, errors: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"{where}: expected a list of strings")
        return []
    return list(value)


def login_name() -> str:
    return getpass.getuser()


@dataclass(frozen=True)
class Actor:
    """The user an action is done as, and the policy that judges them."""

    user: str
    policy: Policy | None = None

    @classmethod
    def resolve(cls, policy: Policy | None, as_user: str | None = None) -> Actor:
        """The OS login; `--as USER` only for holders of action.admin.impersonate."""
        real = cls(login_name(), policy)
        if as_user is None or as_user == real.user:
            return real
        if not real.may(Perm.IMPERSONATE, "*"):
            raise PermissionRefused(f"--as {as_user}: {real.user} lacks {Perm.IMPERSONATE.value}")
        return cls(as_user, policy)

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
            raise PermissionRefused(
                f"{action}: {self.user} lacks {Perm(permission).value} on project {project}"
            )
