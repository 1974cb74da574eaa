"""The envelopes view: envelope → its jobs → per-job statistics, with the envelope's derived status."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.text import Text
from sqlalchemy import func, select
from textual.widgets import Tree

from jobtui.engine.envelopes import LABELS, derive_status
from jobtui.engine.models import ENVELOPES, JOBS, OP_RUNS, TASKS
from jobtui.engine.store import Store
from jobtui.i18n import t
from jobtui.widgets.status_style import status_text

JOBS_PER_GROUP = 200


class EnvelopeTree(Tree[dict[str, Any]]):
    def __init__(self, store: Store, lang: str = "en", **kwargs: Any) -> None:
        super().__init__(t("tree.envelopes", lang), **kwargs)
        self.store = store
        self.lang = lang
        self.show_root = False

    def reload(self) -> None:
        expanded = {
            node.data.get("key") for node in self._all_nodes() if node.is_expanded and node.data is not None
        }
        self.clear()
        with self.store.engine.connect() as conn:
            envelopes = conn.execute(select(ENVELOPES).order_by(ENVELOPES.c.id.desc()).limit(200)).all()
            groups: dict[int | None, list[Any]] = defaultdict(list)
            for envelope in envelopes:
                groups[envelope.id] = list(
                    conn.execute(
                        select(JOBS.c.id, JOBS.c.name, JOBS.c.status, JOBS.c.progress, JOBS.c.project)
                        .where(JOBS.c.envelope_id == envelope.id)
                        .order_by(JOBS.c.id)
                    )
                )
            groups[None] = list(
                conn.execute(
                    select(JOBS.c.id, JOBS.c.name, JOBS.c.status, JOBS.c.progress, JOBS.c.project)
                    .where(JOBS.c.envelope_id.is_(None), JOBS.c.system.is_(False))
                    .order_by(JOBS.c.id.desc())
                    .limit(JOBS_PER_GROUP)
                )
            )
            job_ids = [job.id for jobs in groups.values() for job in jobs]
            stats = self._stats(conn, job_ids)
        for envelope in envelopes:
            jobs = groups[envelope.id]
            status = derive_status(envelope.status, [j.status for j in jobs])
            icon, label = LABELS[status]
            title = Text(f"{icon} {envelope.name}  ", style="bold")
            title.append(f"{label} · {envelope.project} · {len(jobs)} {t('tree.jobs', self.lang)}")
            self._add_group(title, f"env-{envelope.id}", jobs, stats, expanded)
        title = Text(t("tree.no_envelope", self.lang), style="bold")
        title.append(f"  {len(groups[None])} {t('tree.jobs', self.lang)}")
        self._add_group(title, "env-none", groups[None], stats, expanded)

    def _add_group(
        self, title: Text, key: str, jobs: list[Any], stats: dict[int, dict[str, int]], expanded: set[Any]
    ) -> None:
        node = self.root.add(title, data={"key": key}, expand=key in expanded)
        for job in jobs:
            label = Text(f"#{job.id} {job.name}  ")
            label.append_text(status_text(job.status, self.lang))
            label.append(f"  {job.progress}%")
            job_key = f"job-{job.id}"
            child = node.add(label, data={"key": job_key, "job_id": job.id}, expand=job_key in expanded)
            counts = stats.get(job.id, {})
            child.add_leaf(
                t(
                    "tree.job_stats",
                    self.lang,
                    tasks=counts.get("tasks", 0),
                    done=counts.get("done", 0),
                    failed=counts.get("failed", 0),
                    ops=counts.get("ops", 0),
                ),
                data={"key": f"stats-{job.id}"},
            )

    @staticmethod
    def _stats(conn: Any, job_ids: list[int]) -> dict[int, dict[str, int]]:
        stats: dict[int, dict[str, int]] = defaultdict(dict)
        if not job_ids:
            return stats
        for job_id, count in conn.execute(
            select(TASKS.c.job_id, func.count()).where(TASKS.c.job_id.in_(job_ids)).group_by(TASKS.c.job_id)
        ):
            stats[job_id]["tasks"] = count
        for job_id, status, count in conn.execute(
            select(OP_RUNS.c.job_id, OP_RUNS.c.status, func.count())
            .where(OP_RUNS.c.job_id.in_(job_ids))
            .group_by(OP_RUNS.c.job_id, OP_RUNS.c.status)
        ):
            stats[job_id]["ops"] = stats[job_id].get("ops", 0) + count
            if status in ("done", "failed"):
                stats[job_id][status] = count
        return stats

    def _all_nodes(self) -> list[Any]:
        found: list[Any] = []
        stack = list(self.root.children)
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(node.children)
        return found

    def selected_job_id(self) -> int | None:
        node = self.cursor_node
        while node is not None and (node.data is None or "job_id" not in node.data):
            node = node.parent
        return None if node is None or node.data is None else int(node.data["job_id"])
