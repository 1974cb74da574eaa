"""Remappable keys: a TOML file maps binding ids to keys, e.g. `[keys]` / `approve = "A"`."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import platformdirs

from jobtui.engine.errors import BadInput
from jobtui.engine.formats import toml_text


class KeymapError(BadInput, ValueError):
    pass


def keymap_path() -> Path:
    env = os.environ.get("JOBTUI_KEYS")
    return Path(env) if env else Path(platformdirs.user_config_dir("jobtui")) / "keys.toml"


def load_keymap(path: Path, known_ids: set[str]) -> dict[str, str]:
    """Binding id → keys (comma-separated). Missing file: no changes. Unknown ids are errors."""
    if not path.exists():
        return {}
    try:
        # The engine files' reader: `$JOBTUI_KEYS` naming a FIFO is refused at once (it waited for a
        # writer, hanging the dashboard), as are a file that is not UTF-8 and one nested too deeply.
        data = toml_text.loads(toml_text.read_text(path), str(path))
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(f"{path}: {exc}") from exc
    except toml_text.TomlFileError as exc:
        raise KeymapError(str(exc)) from exc
    table = data.get("keys", {})
    if not isinstance(table, dict):
        raise KeymapError(f'{path}: "keys" must be a table of binding id = "key"')
    errors = []
    keymap: dict[str, str] = {}
    for binding_id, keys in table.items():
        if binding_id not in known_ids:
            errors.append(
                f'{path}: [keys] unknown binding "{binding_id}" (known: {", ".join(sorted(known_ids))})'
            )
        elif not isinstance(keys, str) or not keys.strip():
            errors.append(f'{path}: [keys] "{binding_id}" must be a key name like "A" or "ctrl+a"')
        else:
            keymap[binding_id] = keys
    if errors:
        raise KeymapError("\n".join(errors))
    return keymap
