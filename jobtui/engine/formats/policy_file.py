"""Policy files: the TOML that maps OS users to roles and roles to actions per project."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass

from jobtui.engine.domain.permissions import KNOWN_PERMISSIONS, Policy, Role
from jobtui.engine.errors import BadInput
from jobtui.engine.formats import toml_text


class PolicyError(BadInput, ValueError):
    """A policy file that cannot be used; the message names the file and the field."""


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = toml_text.loads(text, source)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: invalid TOML: {exc}") from exc
    except toml_text.TomlFileError as exc:
        raise PolicyError(str(exc)) from exc
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
        """The parsed policy; PolicyError (naming the database's policy) when it cannot be used."""
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
