"""The dashboard's config file: `config.toml` in the user's config directory ($JOBTUI_CONFIG elsewhere).

It holds the view the dashboard opens on: `view = "envelopes"` (or "jobs", the default); `--view` on the
command line wins over it. And the alerts (bell, desktop notification, toast) when a job enters a status
that needs a person while the dashboard is open; `--no-alerts` turns them off whatever the file says:

    [alerts]
    enabled = true                                      # the default
    statuses = ["TRAPPED", "ABEND", "ERROR", "APPROVAL"]  # the default
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from jobtui.engine.domain.alerting import DEFAULT_ALERT_STATUSES, AlertSettings
from jobtui.engine.domain.states import Status
from jobtui.engine.errors import BadInput
from jobtui.engine.formats import toml_text

VIEWS = ("jobs", "envelopes")
DEFAULT_VIEW = "jobs"
KNOWN_KEYS = ("view", "alerts", "theme")
ALERT_KEYS = ("enabled", "statuses")


class ConfigError(BadInput, ValueError):
    pass


@dataclass(frozen=True)
class DashboardConfig:
    view: str | None = None  # None: not set in the file
    theme: str | None = None  # the dashboard's theme, kept when the user picks one (the palette's "Theme")
    alerts: AlertSettings = field(default_factory=AlertSettings)


def config_path() -> Path:
    env = os.environ.get("JOBTUI_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir("jobtui")) / "config.toml"


def load_config(path: Path | None = None) -> DashboardConfig:
    """The settings of the file at `path` (else config_path()). Missing file: nothing set. A bad value or
    an unknown key is a ConfigError, one line per problem naming the file and the field."""
    path = config_path() if path is None else path
    if not path.exists():
        return DashboardConfig()
    text = _read(path)
    try:
        data = toml_text.loads(text, str(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except toml_text.TomlFileError as exc:
        raise ConfigError(str(exc)) from exc
    errors = [
        f'{path}: unknown setting "{key}" (known: {", ".join(KNOWN_KEYS)})'
        for key in data
        if key not in KNOWN_KEYS
    ]
    view = data.get("view")
    if view is not None and view not in VIEWS:
        errors.append(f'{path}: view must be "jobs" or "envelopes", not {view!r}')
    alerts, alert_errors = _alerts(path, data.get("alerts", {}))
    errors += alert_errors
    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        errors.append(f"{path}: theme must be a theme's name, not {theme!r}")
    if errors:
        raise ConfigError("\n".join(errors))
    return DashboardConfig(view=view, alerts=alerts, theme=theme)


def save_theme(theme: str, path: Path | None = None) -> None:
    """Keep `theme` in the config file: its top-level `theme = …` line replaced (or one added first), every
    other line as it was; written whole to a new file, then renamed over the old one."""
    path = config_path() if path is None else path
    lines = _read(path).splitlines() if path.exists() else []
    setting = f"theme = {json.dumps(theme)}"  # a TOML basic string is a JSON string
    replaced = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith("["):
            break  # past the top-level keys (a table follows): the theme goes first
        if line.split("=", 1)[0].strip() == "theme":
            lines[index] = setting
            replaced = True
            break
    if not replaced:
        lines.insert(0, setting)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(path.name + ".new")
    fresh.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(fresh, path)


def _read(path: Path) -> str:
    """The file's text, by the reader of the engine's files: `$JOBTUI_CONFIG` naming a FIFO (or a device)
    is refused at once instead of waiting for a writer, which hung the dashboard before it drew."""
    try:
        return toml_text.read_text(path)
    except toml_text.TomlFileError as exc:
        raise ConfigError(str(exc)) from exc


def _alerts(path: Path, table: object) -> tuple[AlertSettings, list[str]]:
    if not isinstance(table, dict):
        return AlertSettings(), [f"{path}: alerts must be a table ([alerts]), not {table!r}"]
    errors = [
        f'{path}: [alerts]: unknown setting "{key}" (known: {", ".join(ALERT_KEYS)})'
        for key in table
        if key not in ALERT_KEYS
    ]
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(f"{path}: [alerts] enabled must be true or false, not {enabled!r}")
        enabled = True
    statuses = table.get("statuses", sorted(DEFAULT_ALERT_STATUSES))
    known = {status.value for status in Status}
    if not isinstance(statuses, list) or not all(isinstance(item, str) for item in statuses):
        errors.append(f"{path}: [alerts] statuses must be a list of statuses, not {statuses!r}")
        statuses = sorted(DEFAULT_ALERT_STATUSES)
    chosen = {item.upper() for item in statuses}
    names = ", ".join(sorted(known))
    for item in sorted(chosen - known):
        errors.append(f'{path}: [alerts] statuses: unknown status "{item}" (known: {names})')
    return AlertSettings(enabled=enabled, statuses=frozenset(chosen & known)), errors
