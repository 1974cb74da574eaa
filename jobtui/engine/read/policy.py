"""The policy stored in a database, read with the plain driver (no SQLAlchemy): the dashboard knows who
it acts as, under which policy, before the Store has even been imported."""

from __future__ import annotations

from jobtui.engine.db.driver import Reader
from jobtui.engine.formats.policy_file import POLICY_SETTING, StoredPolicy


def stored_policy(reader: Reader) -> StoredPolicy | None:
    """The database's stored policy, or None when it has none (single-user mode, or a --policy file).
    Raises ReadFailed when the settings table cannot be read (no database or schema yet)."""
    value = reader.value("SELECT value FROM settings WHERE key = :key", {"key": POLICY_SETTING})
    return StoredPolicy.from_setting(None if value is None else str(value))
