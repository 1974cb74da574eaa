"""The dashboard the CLI would open, recorded instead of run: what `jobtui` (no command) hands `run_app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Opened:
    url: str
    readonly: bool
    lang: str | None
    actor: Any
    view: Any
    alerts: Any


def record_openings(monkeypatch: pytest.MonkeyPatch) -> list[Opened]:
    """Each dashboard the CLI opens from now on, in order (none is run)."""
    import jobtui.app

    opened: list[Opened] = []

    def fake_run_app(
        url: str,
        readonly: bool = False,
        lang: str | None = None,
        actor: Any = None,
        view: Any = None,
        alerts: Any = None,
    ) -> int:
        opened.append(Opened(url, readonly, lang, actor, view, alerts))
        return 0

    monkeypatch.setattr(jobtui.app, "run_app", fake_run_app)
    return opened
