"""The monitor's operator actions: every key that acts on a job, an envelope or the queue.

Job actions always go to the job id shown in the detail pane, through engine actions, on a snapshot taken
when the key was pressed. In the envelopes view, `b` and `n` act on the envelope under the tree's cursor,
and `c` on an envelope's own line cancels that envelope (on one of its jobs, the job): the registry says
which keys do (`Command.envelope_cli`, `envelope_line_only`).
The screen (`MonitorScreen`) inherits them; what they need of it is declared below.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
from textual import work
from textual.actions import SkipAction
from textual.screen import Screen
from textual.widgets import Input

from jobtui.crash import one_line, write_crash_log
from jobtui.engine.domain.logread import LogCursor, LogEnd, LogPiece
from jobtui.engine.domain.states import Status
from jobtui.engine.domain.text import trapped_op_text
from jobtui.engine.errors import ReadFailed
from jobtui.engine.service.commands import BY_ID, Asks, Command
from jobtui.i18n import count_text, t
from jobtui.screens.alerts import Alerter
from jobtui.widgets.detail import DetailPane
from jobtui.widgets.envelope_tree import EnvelopeTree

# SQLAlchemy, the models and the engine's actions are imported when the Store opens (after the first
# paint, see backend.py); this module only names them for type checking.
if TYPE_CHECKING:
    from jobtui.engine.service.actions import Actions, Queued
    from jobtui.engine.service.backend import Backend
    from jobtui.engine.service.envelope_actions import EnvelopeActions
    from jobtui.engine.service.snapshot import JobSnapshot
    from jobtui.screens.dialogs import DialogScreen, EnvelopeFacts


class MonitorActions(Screen[None]):
    """The actions of `MonitorScreen`, on the UI thread (`perform` runs the engine's call on a worker)."""

    # What the screen provides (see MonitorScreen).
    backend: Backend
    lang: str
    tz: str
    readonly: bool
    envelopes_shown: bool
    workers_shown: bool
    tree_envelope_id: int | None  # the envelope under the tree's cursor (its line, or one of its jobs')
    tree_job_id: int | None  # the job under the tree's cursor
    queue_paused: bool  # as the last poll found the queue
    pane_status: str | None  # the status of the job the detail pane shows (None: none shown)
    alerter: Alerter

    if TYPE_CHECKING:

        def wake(self, force: bool = False) -> None: ...

        def refusal(self, key: str) -> str: ...

        def refuse(self, key: str, timeout: float = 5) -> None: ...

        def refuse_envelope(self, key: str, envelope_id: int, reason: str) -> None: ...

        def say_refusal(self, reason: str, command_id: str) -> str: ...

        def _db_error(self, exc: ReadFailed) -> None: ...

        def _catch_up_with_cursor(self) -> None: ...

        def _envelope_state(self, envelope_id: int) -> tuple[EnvelopeFacts | None, dict[str, str | None]]: ...

    # -- the engine side, once the Store is open (the properties wait for it) -----------------------

    @property
    def actions(self) -> Actions:
        return self.backend.actions

    @property
    def envelopes(self) -> EnvelopeActions:
        return self.backend.envelopes

    # -- snapshots and running actions --------------------------------------------------------------

    def snapshot(self) -> JobSnapshot | None:
        from jobtui.engine.service.snapshot import JobSnapshot

        pane = self.query_one(DetailPane)
        if pane.detail is None:
            return None
        job = pane.detail.job
        # The time left now, as the pane shows it: the detail may have been read minutes ago.
        trap_left_s = pane.detail.trap_left_s(self.backend.now())
        return JobSnapshot(
            id=job["id"],
            name=job["name"],
            project=job["project"],
            status=job["status"],
            status_label=job["status_label"],
            step=job["step"],
            scheduled_at=_parse(job["scheduled_at"]),
            max_start_at=_parse(job["max_start_at"]),
            trap_op=trapped_op_text(job["trap"]),
            trap_left_s=trap_left_s,
            trap_paused=bool(job["trap"] and job["trap"]["paused"]),
        )

    @work(thread=True, group="actions")
    def perform(self, done: str | Callable[[Any], str], call: Any, *args: Any, command: str) -> None:
        """Run an engine action off the UI thread. Done: a notification saying so (`done`, or `done` of
        what the action returned). Refused: a notification titled as a refusal, with the reason."""
        from jobtui.engine.domain.reasons import reason_of
        from jobtui.engine.errors import JobtuiError, ReadFailed, StoreUnreachable

        try:
            with self.backend.reading():
                result = call(*args)
        except (ReadFailed, StoreUnreachable) as exc:
            # The database is away or failing: the transaction was rolled back whole, nothing changed. The
            # worker failing with it stopped the dashboard ("WorkerFailed"), the header already saying so.
            self.app.call_from_thread(self.say_not_done, command, exc)
        except (JobtuiError, ValueError) as exc:
            said = self.say_refusal(reason_of(exc), command)
            self.app.call_from_thread(
                self.notify, said, title=self._refused_title(command), severity="error", timeout=8
            )
        except Exception as exc:
            # A bug in one action: its transaction was rolled back whole, the operator is told where the
            # details are, and the dashboard goes on (it stopped, dropping the operator to the shell).
            path = write_crash_log(exc)
            self.app.call_from_thread(self.say_internal_error, command, exc, path)
        else:
            label = done(result) if callable(done) else done
            self.app.call_from_thread(self.notify, label, timeout=3)
        self.wake(force=True)

    def say_not_done(self, command_id: str, exc: Exception) -> None:
        """A command the database could not take (unreachable, failing): said, nothing changed."""
        orig = getattr(exc, "orig", None) or exc
        reason = " ".join(str(orig).split()) or type(orig).__name__
        self.notify(
            t("monitor.not_done_db", self.lang, error=reason),
            title=t("monitor.not_done", self.lang, what=self.label_of(BY_ID[command_id])),
            severity="error",
            timeout=8,
        )

    def say_internal_error(self, command_id: str, exc: Exception, path: Path | None) -> None:
        where = str(path) if path is not None else t("monitor.no_crash_log", self.lang)
        self.notify(
            t("monitor.internal_error", self.lang, error=one_line(exc), path=where),
            title=t("monitor.not_done", self.lang, what=self.label_of(BY_ID[command_id])),
            severity="error",
            timeout=20,
        )

    def _refused_title(self, command_id: str) -> str:
        return t("monitor.not_allowed", self.lang, what=self.label_of(BY_ID[command_id]))

    def label_of(self, command: Command) -> str:
        """What the command is called here and now: in this view, on this line of the envelope tree, with
        the queue as it is."""
        return command.label_in(self.lang, self.on_envelope(command), self.queue_paused, self.pane_status)

    @property
    def on_envelope_line(self) -> bool:
        """The envelopes view's cursor is on an envelope's own line (not on one of its jobs)."""
        return self.envelopes_shown and self.tree_envelope_id is not None and self.tree_job_id is None

    def on_envelope(self, command: Command) -> bool:
        """The command's key is about the envelope under the tree's cursor here and now (its words say so)."""
        return command.on_envelope(self.envelopes_shown, self.on_envelope_line)

    def envelope_acting(self, command: Command) -> bool:
        """The command's key runs the envelope's own command here and now (`b`, `c` on an envelope's line)."""
        return command.envelope_cli is not None and self.on_envelope(command)

    def _skip_while_typing(self) -> None:
        """A key of INPUT_KEYS pressed while an input has the focus is text for that input."""
        if isinstance(self.focused, Input):
            raise SkipAction()

    async def _open(self, dialog: DialogScreen[Any], done: Callable[[Any], None]) -> None:
        """Open a dialog and return once its input has the focus (see the monitor's INPUT_KEYS): the keys
        typed after the one that opened it are handed to the focused widget only after this returns."""
        await self.app.push_screen(dialog, done)
        dialog.take_focus()

    def _job_action(self, key: str) -> JobSnapshot | None:
        self._catch_up_with_cursor()
        snap = self.snapshot()
        if snap is None or self.check_action(key, ()) is not True:
            self.refuse(key)
            return None
        return snap

    def action_approve(self) -> None:
        self._confirm_then("approve", self.actions.approve)

    def action_reject(self) -> None:
        self._confirm_then("reject", self.actions.reject)

    def _confirm_then(self, key: str, call: Any) -> None:
        """Ask first. A command that asks for a comment too (the registry says so) passes `call` the
        operator's why, None when they gave none."""
        from jobtui.screens.dialogs import ConfirmDialog

        comment = BY_ID[key].asks == Asks.CONFIRM_COMMENT
        if snap := self._job_action(key):
            title = t(f"confirm.{key}", self.lang)
            message = t(f"confirm.{key}_msg", self.lang)
            dialog = ConfirmDialog(title, snap, message, lang=self.lang, comment=comment)

            def done(ok: bool | None) -> None:
                if not ok:
                    return
                args = (snap.id, dialog.comment or None) if comment else (snap.id,)
                self.perform(t(f"monitor.done.{key}", self.lang, id=snap.id), call, *args, command=key)

            self.app.push_screen(dialog, done)

    async def action_cancel(self) -> None:
        if self.envelope_acting(BY_ID["cancel"]):
            await self.envelope_command("cancel")
            return
        self._confirm_then("cancel", self.actions.cancel)

    def action_delete(self) -> None:
        self._confirm_then("delete", self.actions.delete)

    def action_retry(self) -> None:
        self._confirm_then("retry", self.actions.retry)

    def action_rerun(self) -> None:
        from jobtui.screens.dialogs import RerunDialog

        if snap := self._job_action("rerun"):

            def done(result: tuple[str, bool] | None) -> None:
                if result:
                    step, run_now = result
                    self.perform(
                        t("monitor.done.rerun", self.lang, id=snap.id),
                        self.actions.rerun,
                        snap.id,
                        step,
                        run_now,
                        command="rerun",
                    )

            self.app.push_screen(RerunDialog(snap, lang=self.lang, now=self.backend.now()), done)

    async def action_reschedule(self) -> None:
        from jobtui.screens.dialogs import RescheduleDialog

        self._skip_while_typing()
        if snap := self._job_action("reschedule"):

            def done(when: pendulum.DateTime | None) -> None:
                if when is not None:
                    self.perform(
                        t("monitor.done.reschedule", self.lang, id=snap.id),
                        self.actions.reschedule,
                        snap.id,
                        when,
                        command="reschedule",
                    )

            await self._open(RescheduleDialog(snap, self.backend.now, tz=self.tz, lang=self.lang), done)

    async def action_trap(self) -> None:
        from jobtui.screens.dialogs import TrapDialog

        self._skip_while_typing()
        if snap := self._job_action("trap"):

            def done(result: tuple[str, str] | None) -> None:
                if result:
                    what, comment = result
                    self.perform(
                        t("monitor.done.trap", self.lang, id=snap.id, what=what),
                        self.actions.trap,
                        snap.id,
                        what,
                        comment or None,
                        command="trap",
                    )

            await self._open(TrapDialog(snap, self.backend.now, lang=self.lang), done)

    def action_trap_pause(self) -> None:
        if snap := self._job_action("trap_pause"):
            what = "resume" if snap.status == Status.TRAP_PAUSED else "pause"
            if what == "resume":
                # Back to TRAPPED by this operator's own hand: no alert telling them it needs them.
                self.alerter.gate.expect(snap.id, Status.TRAPPED, time.monotonic())
            self.perform(
                t("monitor.done.trap", self.lang, id=snap.id, what=what),
                self.actions.trap,
                snap.id,
                what,
                None,
                command="trap_pause",
            )

    async def action_rollback(self) -> None:
        from jobtui.screens.dialogs import ReasonDialog

        self._skip_while_typing()
        if self.envelope_acting(BY_ID["rollback"]):
            await self.envelope_command("rollback")
            return
        if snap := self._job_action("rollback"):

            def done(reason: str | None) -> None:
                if reason:
                    self.perform(
                        t("monitor.done.rollback", self.lang, id=snap.id),
                        self.actions.rollback,
                        snap.id,
                        reason,
                        command="rollback",
                    )

            dialog = ReasonDialog(
                t("confirm.rollback", self.lang),
                snap,
                lang=self.lang,
                placeholder=t("rollback.placeholder", self.lang),
            )
            await self._open(dialog, done)

    async def envelope_command(self, key: str) -> None:
        """A key that acts on the envelope under the tree's cursor (`b` rolls it back, `c` on its own line
        cancels it): asks the service whether it may now, as the command's CLI verb would be answered;
        refused, says why and records the refusal as that verb's; else asks what the registry says and runs
        the verb's service call."""
        if self.readonly:
            return
        envelope_id = self.tree_envelope_id
        if envelope_id is None:
            self.notify(t("monitor.no_envelope_selected", self.lang), severity="warning")
            return
        # Read now, not from the footer's state: a refusal known before asking saves typing a reason.
        try:
            with self.backend.reading():
                facts, refusals = self._envelope_state(envelope_id)
        except ReadFailed as exc:
            self._db_error(exc)
            return
        if facts is None:
            self.notify(t("monitor.envelope_gone", self.lang, id=envelope_id), severity="warning")
            return
        refused = refusals.get(key)
        if refused is not None:
            self.refuse_envelope(key, envelope_id, refused)
            return
        if key == "cancel":
            self._ask_envelope_cancel(facts)
        else:
            await self._ask_envelope_rollback(facts)

    def _ask_envelope_cancel(self, facts: EnvelopeFacts) -> None:
        """Confirm, with an optional comment (`jobtui envelope-cancel ID --comment`), then cancel."""
        from jobtui.screens.dialogs import ConfirmDialog

        envelope_id = facts.id
        comment = BY_ID["cancel"].asks == Asks.CONFIRM_COMMENT
        dialog = ConfirmDialog(
            t("confirm.envelope_cancel", self.lang),
            facts,
            t("confirm.envelope_cancel_msg", self.lang),
            lang=self.lang,
            comment=comment,
        )

        def done(ok: bool | None) -> None:
            if ok:
                self.perform(
                    lambda canceled: t(
                        "monitor.done.envelope_cancel",
                        self.lang,
                        id=envelope_id,
                        jobs=count_text(len(canceled), "job_canceled", self.lang),
                    ),
                    self.envelopes.cancel,
                    envelope_id,
                    (dialog.comment or None) if comment else None,
                    command="cancel",
                )

        self.app.push_screen(dialog, done)

    async def _ask_envelope_rollback(self, facts: EnvelopeFacts) -> None:
        """Ask for the reason (`jobtui envelope-rollback ID --reason`), then queue the rollback."""
        from jobtui.screens.dialogs import ReasonDialog

        envelope_id = facts.id

        def done(reason: str | None) -> None:
            if reason:
                self.perform(
                    t("monitor.done.envelope_rollback", self.lang, id=envelope_id),
                    self.envelopes.rollback,
                    envelope_id,
                    reason,
                    command="rollback",
                )

        await self._open(
            ReasonDialog(
                t("confirm.envelope_rollback", self.lang),
                facts,
                lang=self.lang,
                placeholder=t("envelope_rollback.placeholder", self.lang),
            ),
            done,
        )

    def _nothing_selected(self) -> None:
        """A key that reads the selected job (or envelope) was pressed with none selected: say so. On an
        envelope's own line a key that reads a job says which (it said "No envelope selected" there)."""
        key = "monitor.no_envelope_selected" if self.envelopes_shown else "monitor.no_job_selected"
        if self.envelopes_shown and self.query_one(EnvelopeTree).selected_envelope() is not None:
            key = "monitor.pick_a_job_of_the_envelope"
        self.notify(t(key, self.lang), severity="warning")

    def action_notifications(self) -> None:
        """`n`: the notifications of the envelope under the tree's cursor, or of the selected job's."""
        from jobtui.screens.dialogs import NotificationsScreen

        if self.workers_shown:
            return  # no job here (the jobs of the views behind it are not the cursor's)
        if self.envelopes_shown:
            tree = self.query_one(EnvelopeTree)
            envelope_id = tree.selected_envelope_id()
            job_id = tree.selected_job_id()
        else:
            detail = self.query_one(DetailPane).detail
            envelope_id = detail.job["envelope"] if detail is not None else None
            job_id = detail.job["id"] if detail is not None else None
        if envelope_id is None:
            if job_id is None:
                self._nothing_selected()
            else:
                self.notify(t("monitor.not_in_envelope", self.lang, id=job_id), severity="warning")
            return
        from jobtui.engine.domain.permissions import PermissionRefused
        from jobtui.engine.domain.reasons import reason_of
        from jobtui.engine.service.actions import UnknownJob

        try:
            with self.backend.reading():
                # Scoped like `jobtui envelope`: an envelope touching a project the user may not view is
                # refused (and the refusal audited), even when reached through a job they may view.
                envelope = self.envelopes.detail(envelope_id, "notifications")
        except UnknownJob:
            self.notify(t("monitor.envelope_gone", self.lang, id=envelope_id), severity="warning")
            return
        except PermissionRefused as exc:
            said = self.say_refusal(reason_of(exc), "notifications")
            self.notify(said, title=self._refused_title("notifications"), severity="warning")
            return
        except ReadFailed as exc:
            self._db_error(exc)
            return
        title = t("notes.title", self.lang, id=envelope_id, name=envelope["name"])
        self.app.push_screen(
            NotificationsScreen(title, envelope["notifications"], tz=self.tz, lang=self.lang)
        )

    def action_queue_toggle(self) -> None:
        from jobtui.screens.dialogs import ConfirmDialog

        if self.readonly:
            return
        paused = self.actions.queue_state().paused
        key = "queue_resume" if paused else "queue_pause"
        title = t(f"confirm.{key}", self.lang)
        # A pause may say why, as `jobtui queue pause --reason` does; a resume has nothing to explain.
        reason = not paused and BY_ID["queue_toggle"].asks == Asks.CONFIRM_REASON
        dialog = ConfirmDialog(title, None, t("confirm.queue_msg", self.lang), lang=self.lang, reason=reason)

        def done(ok: bool | None) -> None:
            if ok:
                call = self.actions.queue_resume if paused else self.actions.queue_pause
                args = () if paused else (dialog.comment or None,)
                self.perform(t(f"monitor.done.{key}", self.lang), call, *args, command="queue_toggle")

        self.app.push_screen(dialog, done)

    def action_queue_clear(self) -> None:
        from jobtui.screens.dialogs import ConfirmDialog

        if self.readonly:
            return
        try:
            with self.backend.reading():
                queued = self.actions.queued()
        except ReadFailed as exc:
            self._db_error(exc)
            return

        def done(ok: bool | None) -> None:
            if ok:
                self.perform(
                    lambda canceled: t(
                        "monitor.done.queue_clear",
                        self.lang,
                        jobs=count_text(len(canceled), "job_canceled", self.lang),
                    ),
                    self.actions.queue_clear,
                    command="queue_clear",
                )

        self.app.push_screen(
            ConfirmDialog(
                t("confirm.queue_clear", self.lang),
                None,
                _clear_message(queued, self.lang),
                lang=self.lang,
            ),
            done,
        )

    def action_copy_id(self) -> None:
        if self.workers_shown:
            return  # no job here
        self._catch_up_with_cursor()
        job_id = self.query_one(DetailPane).current_job_id()
        if job_id is None:
            self._nothing_selected()
            return
        self.app.copy_to_clipboard(str(job_id))
        self.notify(t("monitor.copied_id", self.lang, id=job_id), timeout=2)

    def action_full_log(self) -> None:
        from jobtui.screens.log_viewer import LogViewer

        if self.workers_shown:
            return  # no job here
        self._catch_up_with_cursor()
        job_id = self.query_one(DetailPane).current_job_id()
        snap = self.snapshot()
        if job_id is None or snap is None:
            self._nothing_selected()
            return
        title = f"{t('detail.log', self.lang)} #{snap.id} {snap.name}"
        running = snap.status == Status.RUNNING
        self.app.push_screen(LogViewer(title, job_id, _Logs(self.backend), running, lang=self.lang))

    def action_audit(self) -> None:
        from jobtui.screens.dialogs import AuditScreen

        if self.workers_shown:
            return  # no job here
        self._catch_up_with_cursor()
        pane = self.query_one(DetailPane)
        if pane.detail is None:
            self._nothing_selected()
            return
        job = pane.detail.job
        title = f"{t('monitor.audit', self.lang)} #{job['id']} {job['name']}"
        self.app.push_screen(AuditScreen(title, pane.detail.audit, tz=self.tz, lang=self.lang))


class _Logs:
    """The log viewer's reads: the service's, failing as the monitor's reads do (ReadFailed)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def log_read(self, job_id: int, cursor: LogCursor | None, max_bytes: int, verb: str = "log") -> LogPiece:
        with self.backend.reading():
            return self.backend.reads.log_read(job_id, cursor, max_bytes, verb)

    def log_end(self, job_id: int, max_bytes: int, verb: str = "log") -> LogEnd:
        with self.backend.reading():
            return self.backend.reads.log_end(job_id, max_bytes, verb)

    def has_ended(self, job_id: int) -> bool:
        with self.backend.reading():
            return self.backend.reads.has_ended(job_id)


def _clear_message(queued: Queued, lang: str) -> str:
    """What clearing the queue cancels, counted as the dialog opens: "queued" alone hid that jobs due
    hours later, or waiting for a retry, are canceled too; and the clear cancels every project's queued
    jobs, so those the user may not view are counted too (never named)."""
    if not queued.jobs:
        return t("confirm.queue_clear_none", lang)
    lines = [t("confirm.queue_clear_jobs", lang, jobs=count_text(queued.jobs, "job", lang))]
    if queued.hidden:
        lines.append(t("confirm.queue_clear_hidden", lang, jobs=count_text(queued.hidden, "job", lang)))
    if queued.not_due:
        lines.append(t("confirm.queue_clear_not_due", lang, jobs=count_text(queued.not_due, "job", lang)))
    return "\n".join([*lines, t("confirm.queue_clear_running", lang)])


def _parse(value: str | None) -> pendulum.DateTime | None:
    if not value:
        return None
    parsed = pendulum.parse(value)
    return parsed if isinstance(parsed, pendulum.DateTime) else None


__all__ = ["MonitorActions"]
