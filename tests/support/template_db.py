"""A SQLite database at the schema's head, migrated once a test process and copied for each test that needs
one: running the migrations costs a tenth of a second (and Alembic's import, in a new `jobtui` process),
copying the file a few milliseconds. Only where a test is not about a database a command creates."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import create_engine

from jobtui.engine.db import migrate

_template: Path | None = None


def _migrated_template() -> Path:
    """Without an identity yet: each copy gets one of its own when a Store opens it (it names the copy's log
    folder)."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="jobtui-template-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "jobs.db"
        url = f"sqlite:///{path}"
        engine = create_engine(url)
        try:
            migrate.upgrade(engine, url, None)
        finally:
            engine.dispose()
        _template = path
    return _template


def migrated_sqlite(path: Path) -> str:
    """`path` made a database at the schema's head, as a first command would have (unless it exists): its
    URL."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_migrated_template(), path)
    return f"sqlite:///{path}"
