"""The envelopes view: envelope → its jobs in chain order → per-job statistics, with the envelope's
derived status.

`load_tree` only reads the database, so the monitor's poll worker runs it off the UI thread; `show` then
updates the nodes in place, so the cursor and whatever the operator expanded stay put while the engine
moves jobs underneath.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from jobtui.engine.domain.envelopes import EnvelopeStatus
from jobtui.engine.domain.text import visible
from jobtui.engine.service.envelope_tree import EnvelopeLine, JobLine, JobStats, TreeData
from jobtui.i18n import count_text, envelope_status_text, t
from jobtui.widgets.status_style import ENVELOPE_SYMBOLS, status_text

# The component class (styled in monitor.tcss) that colours each derived status.
STATUS_CLASSES: dict[EnvelopeStatus, str] = {
    EnvelopeStatus.SUCCESS: "envelope-tree--success",
    EnvelopeStatus.SUCCESS_ACTIVE: "envelope-tree--success-active",
    EnvelopeStatus.ERRORS: "envelope-tree--errors",
    EnvelopeStatus.ERRORS_ACTIVE: "envelope-tree--errors-active",
    EnvelopeStatus.CORRUPT: "envelope-tree--corrupt",
    EnvelopeStatus.CANCELLED: "envelope-tree--cancelled",
    EnvelopeStatus.ROLLEDBACK: "envelope-tree--rolledback",
}

NodeData = dict[str, Any]


@dataclass
class _Spec:
    """One wanted node: `children` None makes a leaf."""

    key: str
    label: Text
    data: NodeData
    children: list[_Spec] | None = None


def _key(node: TreeNode[NodeData]) -> str:
    return str(node.data["key"]) if node.data else ""


class EnvelopeTree(Tree[NodeData]):
    # Textual's fold arrows (▶ ▼) are the Running symbol, beside running jobs: small triangles read apart.
    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "
    BINDINGS: ClassVar[list[BindingType]] = [
        # Plain arrows fold like a file manager's tree; the tree rarely needs sideways scrolling.
        Binding("left", "collapse_or_parent", "Collapse", show=False),
        Binding("right", "expand_or_child", "Expand", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "envelope-tree--name",
        "envelope-tree--reason",
        *STATUS_CLASSES.values(),
    }

    def __init__(self, load: Callable[[], TreeData], lang: str = "en", **kwargs: Any) -> None:
        """`load` reads the tree's data (`load_tree` on the monitor's Store)."""
        super().__init__(t("tree.envelopes", lang), **kwargs)
        self._load = load
        self.lang = lang
        self.show_root = False
        self.data: TreeData | None = None  # what it shows

    # -- filling --------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read and show at once (on the UI thread): for the moment the view opens."""
        self.show(self._load())

    def redraw(self) -> None:
        """Build the labels again from the data shown (in another palette: the theme changed)."""
        if self.data is not None:
            self.show(self.data)

    def show(self, data: TreeData) -> None:
        self.data = data
        path = self._key_path(self.cursor_node)
        wanted = [self._envelope_spec(envelope, data.stats) for envelope in data.envelopes]
        if data.more_envelopes:
            older = Text(t("tree.older_envelopes", self.lang), style="italic")
            wanted.append(_Spec("env-older", older, {"key": "env-older"}))
        title = Text(t("tree.no_envelope", self.lang), style=self._style("envelope-tree--name"))
        if data.more_loose:
            title.append(f"  {t('tree.newest_jobs', self.lang, n=len(data.loose))}")
        else:
            title.append(f"  {count_text(len(data.loose), 'job', self.lang)}")
        loose = [self._job_spec(job, None, data.stats) for job in data.loose]
        wanted.append(_Spec("env-none", title, {"key": "env-none"}, loose))
        self._sync(self.root, wanted)
        self._keep_cursor(path)

    def _style(self, component: str) -> Style:
        return self.get_component_rich_style(component, partial=True)

    def _envelope_spec(self, envelope: EnvelopeLine, stats: dict[int, JobStats]) -> _Spec:
        icon = ENVELOPE_SYMBOLS[envelope.status]
        status_style = self._style(STATUS_CLASSES[envelope.status])
        title = Text()
        title.append(f"{icon} ", style=status_style)
        # Labels are Text, never markup; names, projects and reasons come from files: controls shown.
        title.append(f"#{envelope.id} {visible(envelope.name)}", style=self._style("envelope-tree--name"))
        title.append("  ")
        title.append(envelope_status_text(envelope.status, self.lang), style=status_style)
        title.append(f" · {visible(envelope.project)} · {count_text(len(envelope.jobs), 'job', self.lang)}")
        if envelope.status == EnvelopeStatus.CORRUPT and envelope.reason:
            # A tree line is one line: a multi-line reason would be cut at its first line break.
            reason = visible(" ".join(envelope.reason.split()))
            title.append(f" · {reason}", style=self._style("envelope-tree--reason"))
        key = f"env-{envelope.id}"
        jobs = [self._job_spec(job, envelope.id, stats) for job in envelope.jobs]
        return _Spec(key, title, {"key": key, "envelope_id": envelope.id}, jobs)

    def _job_spec(self, job: JobLine, envelope_id: int | None, stats: dict[int, JobStats]) -> _Spec:
        label = Text(f"#{job.id} {visible(job.name)}  ")
        label.append_text(status_text(job.status, self.lang))
        label.append(f"  {job.progress}%")
        counts = stats.get(job.id, JobStats())
        summary = t(
            "tree.job_stats",
            self.lang,
            tasks=count_text(counts.tasks, "task", self.lang),
            done=counts.done,
            failed=counts.failed,
            ops=count_text(counts.ops, "op", self.lang),
        )
        ids = {"envelope_id": envelope_id, "job_id": job.id}
        leaf = _Spec(f"stats-{job.id}", Text(summary), {"key": f"stats-{job.id}", **ids})
        return _Spec(f"job-{job.id}", label, {"key": f"job-{job.id}", **ids}, [leaf])

    def _sync(self, parent: TreeNode[NodeData], wanted: list[_Spec]) -> None:
        """Make `parent`'s children match `wanted` in place: nodes that stay keep their expansion."""
        keys = {spec.key for spec in wanted}
        by_key: dict[str, TreeNode[NodeData]] = {}
        for child in list(parent.children):
            if _key(child) in keys:
                by_key[_key(child)] = child
            else:
                child.remove()
        for index, spec in enumerate(wanted):
            children = parent.children
            node = children[index] if index < len(children) else None
            if node is None or _key(node) != spec.key:
                stale = by_key.get(spec.key)
                if stale is not None:
                    # Out of order (ids only grow, so hardly ever): add it again where it belongs.
                    stale.remove()
                node = parent.add(spec.label, spec.data, before=index, allow_expand=spec.children is not None)
            else:
                if node.label != spec.label:
                    node.set_label(spec.label)
                node.data = spec.data
            if spec.children is not None:
                self._sync(node, spec.children)

    @staticmethod
    def _key_path(node: TreeNode[NodeData] | None) -> list[str]:
        path: list[str] = []
        while node is not None and node.data is not None:
            path.append(_key(node))
            node = node.parent
        return path[::-1]

    def _attached(self, node: TreeNode[NodeData]) -> bool:
        while node.parent is not None:
            if not any(child is node for child in node.parent.children):
                return False
            node = node.parent
        return node is self.root

    def _keep_cursor(self, path: list[str]) -> None:
        """The cursor stays on its node; when that node is gone, on the nearest ancestor that is not."""
        node = self.cursor_node
        if node is None or self._attached(node):
            return
        found: TreeNode[NodeData] | None = None
        children = self.root.children
        for key in path:
            found_child = next((child for child in children if _key(child) == key), None)
            if found_child is None:
                break
            found = found_child
            children = found_child.children
        self._move_to(found if found is not None else self.get_node_at_line(0))

    def _move_to(self, node: TreeNode[NodeData] | None) -> None:
        _ = self.last_line  # lay the lines out first: a node's line number is only current after that
        self.move_cursor(node)

    # -- keys -----------------------------------------------------------------------------------------

    def action_collapse_or_parent(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self._move_to(node.parent)

    def action_expand_or_child(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if node.is_collapsed:
            node.expand()
        elif node.children:
            self._move_to(node.children[0])

    # -- what the cursor is on ------------------------------------------------------------------------

    def _cursor_data(self, name: str) -> int | None:
        data = self.cursor_node.data if self.cursor_node is not None else None
        value = data.get(name) if data else None
        return None if value is None else int(value)

    def selected_job_id(self) -> int | None:
        return self._cursor_data("job_id")

    def selected_envelope(self) -> tuple[EnvelopeLine, dict[int, JobStats]] | None:
        """The envelope whose own line is under the cursor (not one of its jobs), with its jobs' stats."""
        envelope_id = self.selected_envelope_id()
        if envelope_id is None or self.selected_job_id() is not None or self.data is None:
            return None
        line = next((e for e in self.data.envelopes if e.id == envelope_id), None)
        return None if line is None else (line, self.data.stats)

    def selected_envelope_id(self) -> int | None:
        """The envelope of the node under the cursor: the envelope itself, one of its jobs or their stats."""
        return self._cursor_data("envelope_id")
