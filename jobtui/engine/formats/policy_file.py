"""Policy files: the TOML that maps OS users to roles and roles to actions per project."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from typing import Any

from jobtui.engine.domain.permissions import KNOWN_PERMISSIONS, Policy, Role
from jobtui.engine.domain.text import name_problem
from jobtui.engine.errors import BadInput
from jobtui.engine.formats import toml_text
from jobtui.engine.formats.toml_lines import Locator, Section, located


class PolicyError(BadInput, ValueError):
    """A policy file that cannot be used; each line of the message names the file, the line and the
    field (`FILE:LINE: [roles.ops] "actions": ...`)."""


_TOP_KEYS = {"roles", "users"}
_ROLE_KEYS = {"actions", "projects"}


def parse_policy(text: str, source: str) -> Policy:
    """Parse and check a policy; PolicyError lists every problem found, in file order."""
    try:
        data = toml_text.loads(text, source)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: invalid TOML: {exc}") from exc
    except toml_text.TomlFileError as exc:
        raise PolicyError(str(exc)) from exc
    checker = _PolicyChecker(text, source)
    policy = checker.check(data)
    if checker.errors:
        # Stable sort: problems without a line first, then in file order (as for definitions).
        raise PolicyError("\n".join(message for _, message in sorted(checker.errors, key=lambda e: e[0])))
    return policy


class _PolicyChecker:
    """Collects every problem of a policy with its line, so that all are reported at once."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines = Locator(text)
        self.errors: list[tuple[int, str]] = []

    def error(self, line: int | None, message: str) -> None:
        self.errors.append((line or 0, located(self.source, line, message)))

    def check(self, data: dict[str, Any]) -> Policy:
        for key in sorted(set(data) - _TOP_KEYS):
            self.error(self.lines.key(None, key), f'unknown key "{key}" (expected [roles.NAME] and [users])')
        roles: dict[str, Role] = {}
        for name, body in self.table(data, "roles").items():
            role = self.role(name, body)
            if role is not None:
                roles[name] = role
        users: dict[str, tuple[str, ...]] = {}
        for user, role_names in self.table(data, "users").items():
            line = self.lines.key(("users", 0), user)
            # A name no login has grants nothing, silently: " root" is not root.
            problem = name_problem(user)
            if problem:
                self.error(line, f'[users] "{user}": a user name {problem}')
            elif user == "*":
                # As a role's project "*" is every project; a user "*" would silently be nobody.
                self.error(line, '[users] "*": matches no login ("*" is every project in a role\'s projects)')
            names = self.strings(role_names, line, f'[users] "{user}"')
            for role_name in names:
                if role_name not in roles:
                    self.error(line, f'[users] "{user}": unknown role "{role_name}"')
            users[user] = tuple(names)
        return Policy(self.source, roles, users)

    def role(self, name: str, body: object) -> Role | None:
        label = f"[roles.{name}]"
        # The header [roles.NAME], or the line NAME = { ... } under [roles]: an inline table is one line,
        # so a field that has no line of its own is on it.
        role_line = self.lines.key(("roles", 0), name)
        if not isinstance(body, dict):
            self.error(role_line, f"{label}: expected a table")
            return None
        section: Section = ("roles", 0, name)
        for key in sorted(set(body) - _ROLE_KEYS):
            self.error(
                self.lines.key(section, key) or role_line,
                f'{label}: unknown key "{key}" (expected "actions", "projects")',
            )
        actions_line = self.lines.key(section, "actions") or role_line
        actions = self.strings(body.get("actions", []), actions_line, f'{label} "actions"')
        for action in actions:
            if action not in KNOWN_PERMISSIONS:
                self.error(actions_line, f'{label} "actions": unknown action "{action}"')
        projects_line = self.lines.key(section, "projects") or role_line
        projects = self.strings(body.get("projects", ["*"]), projects_line, f'{label} "projects"')
        # An empty list would make a role that grants nothing, as if it were not there; a project written
        # with a space or a control character around it matches no job's project.
        if isinstance(body.get("projects"), list) and not body["projects"]:
            self.error(projects_line, f'{label} "projects": names no project (write ["*"] for every project)')
        for position, project in enumerate(projects, start=1):
            problem = name_problem(project)
            if problem:
                self.error(projects_line, f'{label} "projects": item {position} ("{project}") {problem}')
        return Role(name, frozenset(actions), frozenset(projects))

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.error(self.lines.key(None, key), f'"{key}" must be a table')
            return {}
        return value

    def strings(self, value: object, line: int | None, where: str) -> list[str]:
        """The strings of a list, each item that is none reported, so the strings are checked too."""
        if not isinstance(value, list):
            self.error(line, f"{where}: expected a list of strings")
            return []
        for position, item in enumerate(value, start=1):
            if not isinstance(item, str):
                shown = json.dumps(item, default=str, ensure_ascii=False)
                self.error(line, f"{where}: expected a list of strings, but item {position} is {shown}")
        return [item for item in value if isinstance(item, str)]


def load_policy(path: str | os.PathLike[str] | None) -> Policy | None:
    if path is None or str(path) == "":
        return None
    try:
        text = toml_text.read_text(path)
    except toml_text.TomlFileError as exc:
        raise PolicyError(str(exc).replace(": cannot read file: ", ": cannot read policy file: ", 1)) from exc
    return parse_policy(text, str(path))


# The settings row that holds the policy installed in a database (`jobtui policy install`).
POLICY_SETTING = "policy"
STORED_SOURCE = "the database's policy"


@dataclass(frozen=True)
class StoredPolicy:
    """A policy as stored in its database: the TOML exactly as installed, who installed it and when."""

    text: str
    installed_by: str
    installed_at: str  # ISO 8601
    by_user: str | None = None  # the real user, when installed with --as
    source: str = ""  # the file it was installed from

    def policy(self) -> Policy:
        """The parsed policy; PolicyError when it cannot be used, naming the database's policy and the
        line of its text (as `jobtui policy show` prints it) as a file's errors name the file's line."""
        return parse_policy(self.text, f"{STORED_SOURCE} (installed by {self.installed_by})")

    def to_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "installed_by": self.installed_by,
            "installed_at": self.installed_at,
            "by": self.by_user,
            "source": self.source,
        }

    @classmethod
    def from_setting(cls, value: str | None) -> StoredPolicy | None:
        """From the settings row's value (its JSON text; None: no row); None for no policy. A row that is
        not a stored policy raises PolicyError: a damaged policy must not read as no policy."""
        if value is None:
            return None
        try:
            data = json.loads(value)
        except ValueError:
            data = False  # not JSON: damaged
        if data is None:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise PolicyError(
                f"{STORED_SOURCE}: the stored row is damaged (reinstall it: jobtui policy install)"
            )
        return cls(
            text=data["text"],
            installed_by=str(data.get("installed_by") or "?"),
            installed_at=str(data.get("installed_at") or ""),
            by_user=str(data["by"]) if data.get("by") else None,
            source=str(data.get("source") or ""),
        )
