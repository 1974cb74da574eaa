"""The dashboard's config file: `config.toml` in the user's config directory ($JOBTUI_CONFIG elsewhere).

Today it holds one setting, the view the dashboard opens on: `view = "envelopes"` (or "jobs", the default).
`--view` on the command line wins over it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from jobtui.engine.errors import BadInput

VIEWS = ("jobs", "envelopes")
DEFAULT_VIEW = "jobs"
KNOWN_KEYS = ("view",)


class ConfigError(BadInput, ValueError):
    pass


@dataclass(frozen=True)
class DashboardConfig:
    view: str | None = None  # None: not set in the file


def config_path() -> Path:
    env = os.environ.get("JOBTUI_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir("jobtui")) / "config.toml"


def load_config(path: Path | None = None) -> DashboardConfig:
    """The settings of the file at `path` (else config_path()). Missing file: nothing set. A bad value or
    an unknown key is a ConfigError, one line per problem naming the file and the field."""
    path = config_path() if path is None else path
    if not path.exists():
        return DashboardConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    errors = [
        f'{path}: unknown setting "{key}" (known: {", ".join(KNOWN_KEYS)})'
        for key in data
        if key not in KNOWN_KEYS
    ]
    view = data.get("view")
    if view is not None and view not in VIEWS:
        errors.append(f'{path}: view must be "jobs" or "envelopes", not {view!r}')
    if errors:
        raise ConfigError("\n".join(errors))
    return DashboardConfig(view=view)
