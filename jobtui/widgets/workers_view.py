"""The workers view (`3`): one row per engine — daemon or a dashboard's embedded engine, which it says —
with its host, pid, slots busy and total, the jobs it holds, its heartbeat's age and state; and the
queue's throughput over the last hour. It says so when jobs wait and no engine is live: the queue is not
stuck, it is unserved."""

from __future__ import annotations

from dataclasses import dataclass

import pendulum
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from jobtui.engine.domain.engine_kinds import DAEMON_ENGINE, DASHBOARD_ENGINE
from jobtui.engine.domain.text import visible
from jobtui.engine.read.engines import EngineRow, Throughput
from jobtui.i18n import relative_time, t

SPARKS = " ▁▂▃▄▅▆▇█"
STATE_STYLES = {
    "live": "bold green",
    "stopping": "bold yellow",
    "stale": "bold yellow reverse",
    "stopped": "dim",
}
SHOWN_JOBS = 6
ENGINE_KINDS = (DAEMON_ENGINE, DASHBOARD_ENGINE)


@dataclass(frozen=True)
class WorkersData:
    engines: list[EngineRow]
    throughput: Throughput
    waiting: int  # jobs due to run now (READY), for "waiting and no live engine"
    now: pendulum.DateTime


def sparkline(counts: tuple[int, ...]) -> str:
    top = max(counts, default=0)
    if top == 0:
        return SPARKS[0] * len(counts)
    return "".join(SPARKS[0 if n == 0 else max(1, round(n / top * (len(SPARKS) - 1)))] for n in counts)


class WorkersView(Static, can_focus=True):
    def __init__(self, lang: str = "en", **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.lang = lang
        self.data: WorkersData | None = None

    def show(self, data: WorkersData) -> None:
        self.data = data
        self.update(render(data, self.lang))


def render(data: WorkersData, lang: str) -> Group:
    now = data.now
    live = [engine for engine in data.engines if engine.state(now) == "live"]
    parts: list[Text | Table] = []
    if data.waiting and not live:
        parts.append(Text(f" ⚠ {t('workers.unserved', lang, count=data.waiting)} ", style="bold reverse"))
    table = Table(box=None, expand=True, header_style="bold", pad_edge=False)
    for key in ("host", "kind", "pid", "slots", "jobs", "heartbeat", "state"):
        table.add_column(t(f"workers.col.{key}", lang), no_wrap=True, overflow="ellipsis")
    for engine in data.engines:
        state = engine.state(now)
        held = ", ".join(str(job) for job in engine.jobs[:SHOWN_JOBS])
        if len(engine.jobs) > SHOWN_JOBS:
            held += f" … (+{len(engine.jobs) - SHOWN_JOBS})"
        age = engine.heartbeat_age_s(now)
        beat = "-" if age is None else relative_time(-age, lang)
        table.add_row(
            Text(visible(engine.host)),
            t(f"workers.kind.{engine.kind}", lang) if engine.kind in ENGINE_KINDS else "-",
            str(engine.pid),
            _slots_text(engine, state),
            held or "-",
            beat,
            Text(t(f"workers.state.{state}", lang), style=STATE_STYLES[state]),
        )
    if not data.engines:
        parts.append(Text(t("workers.none", lang), style="bold"))
    else:
        parts.append(table)
    flow = data.throughput
    parts.append(Text(""))
    parts.append(Text(t("workers.throughput", lang), style="bold"))
    parts.append(
        Text.assemble(
            (f"{t('workers.finished', lang):<10}", "green"),
            sparkline(flow.finished),
            f"  {sum(flow.finished)} · max {max(flow.finished, default=0)}/min",
        )
    )
    parts.append(
        Text.assemble(
            (f"{t('workers.failed', lang):<10}", "red"),
            sparkline(flow.failed),
            f"  {sum(flow.failed)} · max {max(flow.failed, default=0)}/min",
        )
    )
    return Group(*parts)


def _slots_text(engine: EngineRow, state: str) -> str:
    """Busy slots of all: jobs an engine claimed ahead wait for a slot (they count as running)."""
    if state == "stopped":
        return f"-/{engine.slots}"
    if engine.busy > engine.slots:
        return f"{engine.slots}/{engine.slots} +{engine.busy - engine.slots} queued"
    return f"{engine.busy}/{engine.slots}"
