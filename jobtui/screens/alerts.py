"""Telling the operator a job needs them: the terminal bell, a desktop notification (OSC 9 and OSC 777, which
terminals show and tmux passes on with `allow-passthrough`), and a toast naming the job and why."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from jobtui.engine.domain.alerting import AlertGate, AlertSettings, Entered
from jobtui.engine.domain.states import status_label
from jobtui.i18n import t

BELL = "\a"
NOTIFICATION_LIMIT = 200  # characters of a desktop notification's body


class Alerter:
    def __init__(self, settings: AlertSettings, lang: str) -> None:
        self.settings = settings
        self.lang = lang
        self.gate = AlertGate()

    @property
    def statuses(self) -> frozenset[str]:
        return self.settings.statuses if self.settings.enabled else frozenset()

    def offer(self, entered: list[Entered], now: float) -> None:
        self.gate.offer(entered, now)

    def due(self, now: float, write: Callable[[str], None], toast: Callable[[str, str], None]) -> None:
        """Alert about what waited, if an alert may go now: one bell, one notification, one toast."""
        entered = self.gate.due(now)
        if not entered:
            return
        title = t("alert.title", self.lang)
        body = self.describe(entered)
        write(BELL + desktop_notification(title, body))
        toast(title, body)

    def describe(self, entered: list[Entered]) -> str:
        lang = self.lang
        if len(entered) == 1:
            one = entered[0]
            return t("alert.one", lang, id=one.job_id, name=one.name, status=status_label(one.status, lang))
        named = ", ".join(f"{one.job_id} {one.name}" for one in entered[:3])
        more = "…" if len(entered) > 3 else ""
        return t("alert.many", lang, count=len(entered), jobs=named + more)


def desktop_notification(title: str, body: str) -> str:
    """OSC 9 and OSC 777 both: a terminal ignores the one it does not know. Only printable text goes in
    (job names are data: an escape or a BEL in one must not end the sequence or start another)."""
    title, body = _printable(title), _printable(body)[:NOTIFICATION_LIMIT]
    return f"\x1b]9;{title}: {body}\x07\x1b]777;notify;{title.replace(';', ',')};{body}\x07"


def _printable(text: str) -> str:
    return "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
