"""Texts the dashboard shows, in English and Spanish (seed 002's vocabulary: pase, Reiniciar, Replanificar…).

Keys are dotted, `<area>.<item>` (`common.yes`, `rerun.run_now`, `trap.left`); placeholders use
`str.format` names (`{id}`, `{name}`). Other screens add their own areas to `MESSAGES`. A key missing in
Spanish falls back to English so a new screen can ship before its translation; an unknown key raises
KeyError so a typo fails the tests instead of showing a blank.
"""

from __future__ import annotations

from jobtui.engine.domain import reasons
from jobtui.engine.domain.reasons import Reason
from jobtui.engine.domain.states import status_label

__all__ = [
    "DEFAULT_LANG",
    "MESSAGES",
    "audit_action_text",
    "audit_status_text",
    "count_text",
    "envelope_status_text",
    "op_status_text",
    "relative_time",
    "status_text",
    "t",
    "task_status_text",
    "type_text",
]

DEFAULT_LANG = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        # Shared by every dialog.
        "common.yes": "Yes",
        "common.no": "No",
        "common.confirm": "Confirm",
        "common.cancel": "Cancel",
        "common.close": "Close",
        "common.error": "Error: {message}",
        "common.job": "Job #{id} · {name}",
        "common.job_facts": "Project {project} · Status {status} · Step {step}",
        "dialog.subject_changed": "changed meanwhile",
        "dialog.subject_gone": "This job no longer exists (deleted while this dialog was open)",
        # ConfirmDialog, plus ready-made titles/messages for the actions that use it.
        "confirm.hint": "y = yes · n / Esc = no · Enter = focused button",
        "confirm.hint_comment": "y = yes · n / Esc = no · c = write a comment, then Enter = yes",
        "confirm.comment": "Comment (optional, kept in the audit trail)",
        "confirm.hint_reason": "y = yes · n / Esc = no · c = write a reason, then Enter = yes",
        "confirm.reason": "Reason (optional; the header shows it, the audit trail keeps it)",
        "confirm.approve": "Approve this job?",
        "confirm.approve_msg": "The job goes on to its RUN step at its scheduled date (at once if that date "
        "has passed).",
        "confirm.retry": "Retry this job?",
        "confirm.retry_msg": "The job runs again now from the step that failed; a partially succeeded job "
        "runs only its tasks that did not succeed.",
        "confirm.reject": "Reject this job?",
        "confirm.reject_msg": "The job does not run its RUN step: it ends Rejected once its POST step ran.",
        "confirm.cancel": "Cancel this job?",
        "confirm.cancel_msg": "The job ends Canceled; a running op is terminated.",
        "confirm.delete": "Delete this job?",
        "confirm.delete_msg": "The job, its tasks, steps and logs are removed. "
        "The audit trail keeps a record.",
        "confirm.queue_clear": "Clear the queue?",
        "confirm.queue_clear_jobs": "Cancels {jobs} queued now.",
        "confirm.queue_clear_not_due": "Of them, {jobs} not due yet (waiting for their date, a window, a "
        "retry or an earlier job of their envelope): canceled too.",
        "confirm.queue_clear_hidden": "Of them, {jobs} in projects you cannot view: canceled too.",
        "confirm.queue_clear_running": "Running jobs finish.",
        "confirm.queue_clear_none": "No job is queued now: nothing to cancel. Running jobs finish.",
        "confirm.queue_pause": "Pause the queue?",
        "confirm.queue_resume": "Resume the queue?",
        "confirm.queue_msg": "Running jobs finish either way; this decides whether queued jobs start.",
        # ReasonDialog.
        "reason.label": "Reason",
        "reason.required": "A reason is required.",
        "reason.hint": "Enter = confirm · Esc = cancel",
        "confirm.rollback": "Roll back this job?",
        "rollback.placeholder": "Why roll back? (kept in the audit trail)",
        # RerunDialog.
        "rerun.title": "Rerun job #{id}",
        "rerun.step": "Rerun from step",
        "rerun.run_now": "Run now",
        "rerun.later_steps": "Later steps rerun too.",
        "rerun.explain.PRE": "A PRE rerun keeps the RUN date: RUN still waits for its scheduled date.",
        "rerun.explain.RUN": "RUN waits for its scheduled date unless Run now is checked.",
        "rerun.explain.RUN_NOW": "Run now: RUN starts as soon as a worker is free, "
        "overriding the scheduled date.",
        "rerun.explain.POST": "Only POST reruns (notifications, promotions).",
        "rerun.explain.PASSED": "Its Max Start Date (or its schedule's expiry) has passed: RUN starts now, "
        "as with Run now, its dates moved along (it expires again if no worker is free in time).",
        "rerun.hint": "1 / 2 / 3 = PRE / RUN / POST · n = Run now · y = rerun · Esc = cancel",
        # RescheduleDialog.
        "reschedule.title": "Reschedule job #{id}",
        "reschedule.current": "Scheduled: {when}",
        "reschedule.max_start": "Max Start Date: {when}",
        "reschedule.unset": "not set",
        "reschedule.label": "New date for RUN",
        "reschedule.placeholder": "{example}, +2h, tomorrow 02:00, now",
        "reschedule.empty": "Type a date: ISO 8601, +2h, tomorrow 02:00 or now.",
        # English shows the parser's own message, which says more; this is for a language without one.
        "reschedule.unreadable": '"{text}" is not a date jobtui reads: type ISO 8601 ({example}), +2h, '
        "tomorrow 02:00 or now",
        "reschedule.new": "New date: {when}",
        "reschedule.past": "This date is in the past: RUN starts as soon as it can.",
        "reschedule.max_moves": "Max Start Date moves by the same span: {when}",
        "reschedule.max_moves_plain": "Max Start Date moves by the same span.",
        "reschedule.max_from_now": "Max Start Date, the same span from now: {when}",
        "reschedule.hint": "Enter = confirm · Esc = cancel · times in {zone}",
        # TrapDialog.
        "trap.title": "Trapped job #{id}",
        "trap.op": "Trapped op: {op}",
        "trap.op_unknown": "unknown",
        "trap.left": "Time left: {left}",
        "trap.left_paused": "Time left: {left} (paused)",
        "trap.forever": "none, no timeout (it waits for an operator)",
        "trap.timed_out": "timed out",
        "trap.retry": "Retry",
        "trap.skip": "Skip",
        "trap.abort": "Abort",
        "trap.comment": "Comment (optional)",
        "trap.explain": "Retry: run the op again\nSkip: mark it skipped and go on\n"
        "Abort: fail the op, as any failure (then POST)",
        "trap.hint": "Enter ends the comment, then r / s / a · Esc = cancel",
        # HelpScreen, and the audit trail's empty text and hint.
        "help.title": "Keys",
        "help.empty": "No keys.",
        "help.legend": "Status symbols",
        "help.envelope_legend": "Envelope symbols (view 2)",
        "audit.by": "(by {user})",
        "audit.refused": "REFUSED",
        "help.hint": "Esc / ? / q = close",
        "text.empty": "(empty)",
        "text.hint": "Esc = close · arrows / PgUp / PgDn scroll",
        "logview.hint": "q close · F follow · / search · n N next, previous · w wrap · Y copy line · "
        "o $PAGER",
        "logview.search": "Search the log (upper case: exact case)",
        "logview.left_out": "[… the first {size} are left out: o opens the whole log, "
        "`jobtui log {id}` prints it …]",
        "logview.skipped": "[… {size} skipped to keep up: o opens the whole log …]",
        "logview.following": "following",
        "logview.not_following": "not following (F)",
        "logview.wrap_on": "wrap on",
        "logview.wrap_off": "wrap off",
        "logview.matches": 'lines matching "{pattern}": {count}',
        "logview.line": "line {line} of {total}",
        "logview.ended": "the job ended",
        "logview.no_match": 'No line matches "{pattern}"',
        "logview.copied": "Copied the line ({chars} characters)",
        "logview.no_pager": "No pager here (a browser has no terminal to lend): "
        "`jobtui log {id}` prints the log",
        # relative_time: "in 2 h 59 min", "3 d 4 h ago".
        "time.now": "now",
        "time.future": "in {span}",
        "time.past": "{span} ago",
        "time.unit.d": "{n} d",
        "time.unit.h": "{n} h",
        "time.unit.min": "{n} min",
        "time.unit.s": "{n} s",
        # The monitor screen, its widgets and the app shell.
        "monitor.filter_placeholder": (
            "Filter: name, project, owner, target or #id — Enter to keep, Esc to clear"
        ),
        "monitor.db_error": "Database error",
        "monitor.not_done": "Not done: {what}",
        "monitor.not_done_db": "The database could not take it ({error}): nothing was changed.",
        "monitor.internal_error": "Internal error ({error}): nothing was changed; details in {path}",
        "monitor.no_crash_log": "no file (the log folder cannot be written)",
        "monitor.db_back": "Database reachable again",
        "bar.db_unreachable": "database unreachable",
        "monitor.no_job_selected": "No job selected",
        "monitor.readonly_key": "Read-only: this dashboard takes no action (it was opened with --readonly)",
        # Only the Spanish is used: English says the engine's own words (the CLI's).
        "monitor.status_filter": "Status filter: {status}",
        "monitor.attention_on": "Needs attention: the jobs waiting for a person, oldest first "
        "(! again for all)",
        "monitor.attention_off": "All jobs",
        "monitor.copied_id": "Copied: {id}",
        "workers.unserved": "jobs due with no live engine: {count}; start `jobtui daemon` "
        "(or open a dashboard)",
        "workers.none": "No engine has ever served this database: start one with `jobtui daemon`",
        "workers.col.host": "Host",
        "workers.col.kind": "Kind",
        "workers.kind.daemon": "daemon",
        "workers.kind.dashboard": "dashboard",
        "workers.col.pid": "PID",
        "workers.col.slots": "Busy/slots",
        "workers.col.jobs": "Jobs held",
        "workers.col.heartbeat": "Heartbeat",
        "workers.col.state": "State",
        "workers.state.live": "live",
        "workers.state.stopping": "stopping",
        "workers.state.stale": "stale",
        "workers.state.stopped": "stopped",
        "workers.throughput": "Jobs ended a minute, last hour (oldest left)",
        "workers.finished": "finished",
        "workers.failed": "failed",
        "picker.title": "Show the jobs in these statuses",
        "picker.attention": "needs attention",
        "picker.running": "running",
        "picker.failed": "failed",
        "picker.all": "all",
        "picker.hint": "Space ticks · Enter applies (none ticked: every status) · Esc leaves it as it was",
        "alert.title": "jobtui: needs attention",
        "alert.one": "Job {id} {name}: {status}",
        "alert.many": "{count} jobs need attention: {jobs}",
        "monitor.command_placeholder": ":42 goes to job 42 · :q quits · Esc closes",
        "monitor.unknown_command": "Unknown command: {command} (:42 goes to job 42, :q quits)",
        "monitor.no_such_job": "No job {id} (or not one you may see)",
        "monitor.jump_cleared_filter": "The filter hid job {id}: cleared",
        "monitor.all": "all",
        "monitor.system_shown": "System jobs shown",
        "monitor.system_hidden": "System jobs hidden",
        "monitor.done.approve": "Job #{id} approved",
        "monitor.done.reject": "Job #{id} rejected",
        "monitor.done.cancel": "Job #{id} canceled",
        "monitor.done.delete": "Job #{id} deleted",
        "monitor.done.rerun": "Job #{id} put back to Ready",
        "monitor.done.reschedule": "Job #{id} rescheduled",
        "monitor.done.retry": "Job #{id} retried",
        "monitor.done.rollback": "Rollback of job #{id} queued",
        "monitor.done.trap": "Job #{id}: trap {what}",
        "monitor.done.queue_pause": "Queue paused",
        "monitor.done.queue_resume": "Queue resumed",
        "monitor.done.queue_clear": "Queue cleared: {jobs}",
        # A count and its noun (`count_text`): "1 job", "3 jobs".
        "count.job.one": "1 job",
        "count.job.many": "{n} jobs",
        "count.job_canceled.one": "1 job canceled",
        "count.job_canceled.many": "{n} jobs canceled",
        "count.task.one": "1 task",
        "count.task.many": "{n} tasks",
        "count.op.one": "1 op",
        "count.op.many": "{n} ops",
        "count.worker.one": "1 worker",
        "count.worker.many": "{n} workers",
        "monitor.not_allowed": "Not allowed: {what}",
        "detail.tasks": "Tasks",
        "detail.tasks_count": "Tasks ({total})",
        "detail.steps": "Steps",
        "detail.log": "Log",
        "detail.audit": "Audit",
        "detail.project": "project",
        "detail.for": "for",
        "detail.step": "step",
        "detail.reason": "Reason",
        "detail.exec": "exec",
        "detail.trap": "Trap",
        "detail.trap_forever": "no timeout",
        "detail.paused": "paused",
        "detail.time_left": "time left",
        "detail.natures": "Natures",
        "detail.owner": "Owner",
        "detail.approvers": "Approvers: {who}, or approve_all on the project",
        "detail.approvers_any": "Approvers: whoever has approve_all on the project",
        "detail.envelope": "Envelope",
        "detail.envelope_jobs": "{jobs}, in chain order:",
        "detail.envelope_hint": "Down onto a job for its tasks, steps and log",
        "detail.envelope_hint.rollback": "{keys} rolls the envelope back",
        "detail.envelope_hint.cancel": "{keys} cancels it",
        "detail.envelope_hint.notifications": "{keys} its notifications",
        "detail.scheduled_at": "Scheduled",
        "detail.max_start_at": "Max Start",
        "detail.started_at": "Start",
        "detail.ended_at": "End",
        "detail.created_at": "Created",
        "detail.next_run_at": "Next run",
        "detail.expires_at": "Expires",
        "detail.replaced_by": "Replaced by job {job}",
        "detail.schedule": "Schedule",
        "detail.schedule_now": "at its RUN date",
        "detail.no_retries": "no retries",
        "detail.window": "Window",
        "detail.all_day": "all day",
        "detail.fire_and_forget": "Fire-and-forget",
        "detail.retry_every": "retry every {every}",
        "detail.until": "until {when}",
        "detail.expires": "expires {when}",
        "col.id": "ID",
        "col.name": "Job",
        "col.type": "Type",
        "col.project": "Project",
        "col.status": "Status",
        "col.step": "Step",
        "col.progress": "Progress",
        "col.natures": "Natures",
        "col.scheduled": "Scheduled",
        "col.max_start": "Max Start",
        "col.start": "Start",
        "col.end": "End",
        "col.elapsed": "Elapsed",
        "col.wait": "Waiting",
        "col.owner": "Owner",
        "col.envelope": "Envelope",
        "col.target": "Target",
        "col.last_triggered": "Last triggered",
        "col.current_step": "Current step",
        "col.attempts": "Attempts",
        "col.next_attempt": "Next attempt",
        "col.step_name": "Name",
        "col.pipeline_step": "Step",
        "col.started": "Started",
        "col.skipped": "Skipped",
        "col.completed": "Completed",
        "col.duration": "Took",
        "col.exit": "Exit",
        "col.at": "At",
        "col.who": "Who",
        "col.action": "Action",
        "col.transition": "From → to",
        "col.comment": "Comment",
        "bar.queue_paused": "QUEUE PAUSED",
        "bar.queue_running": "QUEUE RUNNING",
        "bar.attention": "{count} need attention",
        "bar.shown": "shown:",
        "bar.none_shown": "none",
        "bar.unserved": "{count} due, no engine",
        # Whole at 80 columns: the commands are what the line is for.
        "filter.no_jobs_yet": "No jobs yet: jobtui submit FILE.toml, or try jobtui demo",
        # The Waiting column of a queued job its envelope's chain holds (9 cells at most).
        "table.wait_chain": "chain",
        "filter.count": "{shown} of {every} jobs",
        "filter.attention": "needs attention (! for all)",
        "filter.statuses": "status: {statuses} (f changes it)",
        "filter.text": "text: {text} (Esc clears)",
        "filter.system": "system jobs shown (S hides them)",
        "filter.nothing_matches": "Nothing matches",
        "filter.hint_text": "Esc clears the text",
        "filter.hint_statuses": "f, 0, Enter shows every status",
        "filter.hint_attention": "! again shows every job",
        "bar.readonly": "read-only",
        "bar.frozen": "FROZEN (z resumes)",
        "bar.live": "live",
        "tree.envelopes": "Envelopes",
        "tree.no_envelope": "(no envelope)",
        "tree.older_envelopes": "older envelopes are not shown: `jobtui envelopes` lists every one",
        "tree.newest_jobs": "the newest {n} jobs: the jobs view (1) lists every one",
        "tree.job_stats": "{tasks} · {ops}: {done} done, {failed} failed",
        # Envelopes: derived statuses, rolling one back, its notifications, the keys that act on them.
        "envelope.status.SUCCESS": "Success",
        "envelope.status.SUCCESS_ACTIVE": "Success, active",
        "envelope.status.ERRORS": "Errors",
        "envelope.status.ERRORS_ACTIVE": "Errors, active",
        "envelope.status.CORRUPT": "Corrupt",
        "envelope.status.CANCELLED": "Canceled",
        "envelope.status.ROLLEDBACK": "Rolled back",
        "common.envelope": "Envelope #{id} · {name}",
        "common.envelope_facts": "Project {project} · Status {status} · {jobs}",
        "confirm.envelope_rollback": "Roll back this envelope?",
        "confirm.envelope_cancel": "Cancel this envelope?",
        "confirm.envelope_cancel_msg": "Every job of it that has not ended is canceled (a running op is "
        "terminated); the envelope stays Canceled.",
        "envelope_rollback.placeholder": "Why roll back? (kept in the audit trail and the notifications)",
        "notes.title": "Notifications · envelope #{id} {name}",
        "notes.empty": "No notifications.",
        "notes.hint": "Esc / n / q = close · arrows / PgUp / PgDn scroll",
        "notes.level.info": "info",
        "notes.level.warning": "warning",
        "notes.level.error": "error",
        "monitor.done.envelope_rollback": "Rollback of envelope #{id} queued",
        "monitor.done.envelope_cancel": "Envelope #{id} canceled: {jobs}",
        "monitor.no_envelope_selected": "No envelope selected",
        "monitor.pick_a_job_of_the_envelope": "That key reads a job: move to one of the envelope's jobs",
        "monitor.not_in_envelope": "job {id} is not in an envelope",
        "monitor.envelope_gone": "envelope {id} no longer exists",
        "app.engine_embedded": "engine: embedded",
        "app.engine_daemon": "engine: daemon on {host}",
        "app.engine_dashboard": "engine: another dashboard's on {host}",
        "app.engine_embedded_and_dashboard": "engine: embedded + another dashboard's on {host}",
        "app.keymap_error": "Key map not applied",
        "app.config_error": "Config file not applied",
        "app.quit.title": "Quit jobtui?",
        "app.quit.message": (
            "The embedded engine holds {jobs}: the ops running keep running, "
            "and the next engine re-adopts them."
        ),
        # Read-only says so on its own right after it: said twice, the header cut the attention count.
        "app.engine_none": "engine: none",
        "app.engine_embedded_and_daemon": "engine: embedded + daemon on {host}",
        "app.engine_embedded_stale": "engine: embedded (daemon on {host} stale)",
        "app.engine_embedded_stopping": "engine: embedded (daemon on {host} stopping)",
        "app.engine_embedded_stopped": "engine: embedded (daemon on {host} stopped)",
        "app.engine_none_stale": "engine: none (daemon on {host} stale)",
        "app.engine_none_stopping": "engine: none (daemon on {host} stopping)",
        "app.engine_none_stopped": "engine: none (daemon on {host} stopped)",
        "app.engine_no_daemon": "engine: none (no daemon)",
        "app.engine_handing_over": "engine: embedded, stopping (daemon on {host} back)",
        "app.crashed": "jobtui stopped on an unexpected error ({error}); details in {path}",
        "monitor.audit": "Audit",
        # Task and op (step) statuses: English shows the codes, as before; Spanish translates them.
        # Words as the job statuses read (Title Case, American "Canceled"); the codes stay in the CLI's JSON.
        "task.status.SCHEDULED": "Scheduled",
        "task.status.RUNNING": "Running",
        "task.status.RESCHEDULED": "Rescheduled",
        "task.status.SUCCEEDED": "Succeeded",
        "task.status.FAILED": "Failed",
        "task.status.CANCELLED": "Canceled",
        "op.status.pending": "Pending",
        "op.status.running": "Running",
        "op.status.done": "Done",
        "op.status.skipped": "Skipped",
        "op.status.failed": "Failed",
        # Audit actions: English shows the codes; Spanish translates the common ones (others as written).
        "audit.action.submit": "submit",
        "audit.action.claim": "claim",
        "audit.action.finish": "finish",
        "audit.action.approve": "approve",
        "audit.action.reject": "reject",
        "audit.action.cancel": "cancel",
        "audit.action.delete": "delete",
        "audit.action.rerun": "rerun",
        "audit.action.reschedule": "reschedule",
        "audit.action.retry": "retry",
        "audit.action.rollback": "rollback",
        # The default job type (a definition may name its own, shown as written).
        "type.job": "job",
        # Textual's parts: the key bar's palette key, the palette's prompt and the system commands kept.
        "keybar.palette": "palette",
        "palette.placeholder": "Search for commands…",
        "palette.quit": "Quit",
        "palette.quit_help": "Quit the application as soon as possible",
        "palette.maximize": "Maximize",
        "palette.maximize_help": "Maximize the focused widget",
        "palette.minimize": "Minimize",
        "palette.minimize_help": "Minimize the widget and restore to normal size",
        "palette.not_available": "not available",
    },
    "es": {
        "common.yes": "Sí",
        "common.no": "No",
        "common.confirm": "Confirmar",
        "common.cancel": "Cancelar",
        "common.close": "Cerrar",
        "common.error": "Error: {message}",
        "common.job": "Pase #{id} · {name}",
        "common.job_facts": "Proyecto {project} · Estado {status} · Paso {step}",
        "dialog.subject_changed": "cambió mientras tanto",
        "dialog.subject_gone": "Este pase ya no existe (se borró con este diálogo abierto)",
        "confirm.hint": "y = sí · n / Esc = no · Intro = botón seleccionado",
        "confirm.hint_comment": "y = sí · n / Esc = no · c = escribir un comentario, luego Intro = sí",
        "confirm.comment": "Comentario (opcional, queda en la auditoría)",
        "confirm.hint_reason": "y = sí · n / Esc = no · c = escribir un motivo, luego Intro = sí",
        "confirm.reason": "Motivo (opcional; la cabecera lo muestra, la auditoría lo guarda)",
        "confirm.approve": "¿Aprobar este pase?",
        "confirm.approve_msg": "El pase sigue a su paso RUN en su fecha programada (enseguida si esa fecha "
        "ya pasó).",
        "confirm.retry": "¿Reintentar este pase?",
        "confirm.retry_msg": "El pase vuelve a ejecutarse ahora desde el paso que falló; un pase "
        "parcialmente correcto ejecuta solo sus tareas que no salieron bien.",
        "confirm.reject": "¿Rechazar este pase?",
        "confirm.reject_msg": "El pase no ejecuta su paso RUN: termina Rechazado tras su paso POST.",
        "confirm.cancel": "¿Cancelar este pase?",
        "confirm.cancel_msg": "El pase termina Cancelado; la operación en ejecución se termina.",
        "confirm.delete": "¿Borrar este pase?",
        "confirm.delete_msg": "Se borran el pase, sus tareas, pasos y logs. "
        "La auditoría conserva un registro.",
        "confirm.queue_clear": "¿Vaciar la cola?",
        "confirm.queue_clear_jobs": "Cancela {jobs} en cola ahora.",
        "confirm.queue_clear_not_due": "De ellos, {jobs} aún sin llegar su hora (esperan su fecha, una "
        "ventana, un reintento o un pase anterior de su sobre): también se cancelan.",
        "confirm.queue_clear_hidden": "De ellos, {jobs} en proyectos que usted no puede ver: "
        "también se cancelan.",
        "confirm.queue_clear_running": "Los pases en ejecución terminan.",
        "confirm.queue_clear_none": "No hay pases en cola: nada que cancelar. "
        "Los pases en ejecución terminan.",
        "confirm.queue_pause": "¿Pausar la cola?",
        "confirm.queue_resume": "¿Reanudar la cola?",
        "confirm.queue_msg": "Los pases en ejecución terminan igualmente; "
        "esto decide si arrancan los pases en cola.",
        "reason.label": "Motivo",
        "reason.required": "El motivo es obligatorio.",
        "reason.hint": "Intro = confirmar · Esc = cancelar",
        "confirm.rollback": "¿Hacer rollback de este pase?",
        "rollback.placeholder": "¿Por qué hacer rollback? (queda en la auditoría)",
        "rerun.title": "Reiniciar el pase #{id}",
        "rerun.step": "Reiniciar desde el paso",
        "rerun.run_now": "Ejecutar ahora",
        "rerun.later_steps": "Los pasos siguientes también se reejecutan.",
        "rerun.explain.PRE": "Si se reinicia PRE, RUN conserva su fecha: "
        "seguirá esperando a la fecha planificada.",
        "rerun.explain.RUN": "RUN espera a su fecha planificada salvo que marque Ejecutar ahora.",
        "rerun.explain.RUN_NOW": "Ejecutar ahora: RUN arranca en cuanto haya un worker libre, "
        "sobrescribiendo la fecha planificada.",
        "rerun.explain.POST": "Solo se reejecuta POST (notificaciones, promociones).",
        "rerun.explain.PASSED": "Su fecha máxima de inicio (o la caducidad de su planificación) ya pasó: RUN "
        "arranca ya, como con Ejecutar ahora, y sus fechas se mueven con ella (vuelve a expirar si no hay "
        "un worker libre a tiempo).",
        "rerun.hint": "1/2/3 = PRE/RUN/POST · n = Ejecutar ahora · y = sí · Esc = cancelar",
        "reschedule.title": "Replanificar el pase #{id}",
        "reschedule.current": "Fecha planificada: {when}",
        "reschedule.max_start": "Max fecha de inicio: {when}",
        "reschedule.unset": "sin fecha",
        "reschedule.label": "Nueva fecha para RUN",
        "reschedule.placeholder": "{example}, +2h, tomorrow 02:00, now",
        "reschedule.empty": "Escriba una fecha: ISO 8601, +2h, tomorrow 02:00 o now.",
        # The parser's own message is English: a Spanish operator reads what to type instead.
        "reschedule.unreadable": "«{text}» no es una fecha que se entienda: escriba ISO 8601 ({example}), "
        "+2h, tomorrow 02:00 o now",
        "reschedule.new": "Nueva fecha: {when}",
        "reschedule.past": "Esta fecha ya ha pasado: RUN arrancará en cuanto pueda.",
        "reschedule.max_moves": "La Max fecha de inicio se mueve lo mismo: {when}",
        "reschedule.max_moves_plain": "La Max fecha de inicio se mueve lo mismo.",
        "reschedule.max_from_now": "Max fecha de inicio, el mismo plazo desde ahora: {when}",
        "reschedule.hint": "Intro = confirmar · Esc = cancelar · horas en {zone}",
        "trap.title": "Pase #{id} capturado",
        "trap.op": "Operación capturada: {op}",
        "trap.op_unknown": "desconocida",
        "trap.left": "Tiempo restante: {left}",
        "trap.left_paused": "Tiempo restante: {left} (en pausa)",
        "trap.forever": "ninguno, sin tiempo límite (espera a un operador)",
        "trap.timed_out": "agotado",
        "trap.retry": "Reintentar",
        "trap.skip": "Saltar",
        "trap.abort": "Abortar",
        "trap.comment": "Comentario (opcional)",
        "trap.explain": "Reintentar: volver a ejecutar la operación\nSaltar: marcarla como saltada y seguir\n"
        "Abortar: hacer fallar la operación, como cualquier fallo (después POST)",
        "trap.hint": "Intro cierra el comentario, luego r / s / a · Esc = cancelar",
        "help.title": "Teclas",
        "help.empty": "Sin teclas.",
        "help.legend": "Símbolos de estado",
        "help.envelope_legend": "Símbolos de sobre (vista 2)",
        "audit.by": "(por {user})",
        "audit.refused": "RECHAZADA",
        "help.hint": "Esc / ? / q = cerrar",
        "text.empty": "(vacío)",
        "text.hint": "Esc = cerrar · flechas / RePág / AvPág para desplazar",
        "logview.hint": "q cerrar · F seguir · / buscar · n N siguiente, anterior · w ajustar · "
        "Y copiar línea · o $PAGER",
        "logview.search": "Buscar en el log (mayúsculas: exacto)",
        "logview.left_out": "[… faltan los primeros {size}: o abre el log completo, "
        "`jobtui log {id}` lo imprime …]",
        "logview.skipped": "[… {size} saltados para no quedar atrás: o abre el log completo …]",
        "logview.following": "siguiendo",
        "logview.not_following": "sin seguir (F)",
        "logview.wrap_on": "ajuste de línea",
        "logview.wrap_off": "sin ajuste de línea",
        "logview.matches": 'líneas que contienen "{pattern}": {count}',
        "logview.line": "línea {line} de {total}",
        "logview.ended": "el pase terminó",
        "logview.no_match": 'Ninguna línea contiene "{pattern}"',
        "logview.copied": "Línea copiada ({chars} caracteres)",
        "logview.no_pager": "Aquí no hay paginador (un navegador no presta terminal): "
        "`jobtui log {id}` imprime el log",
        "time.now": "ahora",
        "time.future": "dentro de {span}",
        "time.past": "hace {span}",
        "time.unit.d": "{n} d",
        "time.unit.h": "{n} h",
        "time.unit.min": "{n} min",
        "time.unit.s": "{n} s",
        # The monitor screen, its widgets and the app shell.
        "monitor.filter_placeholder": (
            "Filtro: nombre, proyecto, propietario, destino o #id — Intro fija, Esc borra"
        ),
        "monitor.db_error": "Error de base de datos",
        "monitor.not_done": "No hecho: {what}",
        "monitor.not_done_db": "La base de datos no pudo aceptarlo ({error}): no se cambió nada.",
        "monitor.internal_error": "Error interno ({error}): no se cambió nada; detalles en {path}",
        "monitor.no_crash_log": "ningún fichero (no se puede escribir la carpeta de logs)",
        "monitor.db_back": "Base de datos accesible de nuevo",
        "bar.db_unreachable": "base de datos inaccesible",
        "monitor.no_job_selected": "Ningún pase seleccionado",
        "monitor.readonly_key": "Solo lectura: este panel no ejecuta acciones (se abrió con --readonly)",
        "monitor.status_filter": "Filtro de estado: {status}",
        "monitor.attention_on": "Requieren atención: los pases que esperan a una persona, los más antiguos "
        "primero (! otra vez para todos)",
        "monitor.attention_off": "Todos los pases",
        "monitor.copied_id": "Copiado: {id}",
        "workers.unserved": "pases por empezar sin motor vivo: {count}; arranque `jobtui daemon` "
        "(o abra un panel)",
        "workers.none": "Ningún motor ha servido esta base de datos: arranque uno con `jobtui daemon`",
        "workers.col.host": "Host",
        "workers.col.kind": "Tipo",
        "workers.kind.daemon": "demonio",
        "workers.kind.dashboard": "panel",
        "workers.col.pid": "PID",
        "workers.col.slots": "Ocupadas/ranuras",
        "workers.col.jobs": "Pases",
        "workers.col.heartbeat": "Latido",
        "workers.col.state": "Estado",
        "workers.state.live": "vivo",
        "workers.state.stopping": "deteniéndose",
        "workers.state.stale": "sin latido",
        "workers.state.stopped": "parado",
        "workers.throughput": "Pases terminados por minuto, última hora (lo más antiguo a la izquierda)",
        "workers.finished": "terminados",
        "workers.failed": "fallidos",
        "picker.title": "Mostrar los pases en estos estados",
        "picker.attention": "requieren atención",
        "picker.running": "en curso",
        "picker.failed": "fallidos",
        "picker.all": "todos",
        "picker.hint": "Espacio marca · Intro aplica (ninguno marcado: todos) · Esc lo deja como estaba",
        "alert.title": "jobtui: requiere atención",
        "alert.one": "Pase {id} {name}: {status}",
        "alert.many": "{count} pases requieren atención: {jobs}",
        "monitor.command_placeholder": ":42 va al pase 42 · :q sale · Esc cierra",
        "monitor.unknown_command": "Orden desconocida: {command} (:42 va al pase 42, :q sale)",
        "monitor.no_such_job": "No hay pase {id} (o no puede verlo)",
        "monitor.jump_cleared_filter": "El filtro ocultaba el pase {id}: borrado",
        "monitor.all": "todos",
        "monitor.system_shown": "Pases de sistema visibles",
        "monitor.system_hidden": "Pases de sistema ocultos",
        "monitor.done.approve": "Pase #{id} aprobado",
        "monitor.done.reject": "Pase #{id} rechazado",
        "monitor.done.cancel": "Pase #{id} cancelado",
        "monitor.done.delete": "Pase #{id} borrado",
        "monitor.done.rerun": "Pase #{id} vuelve a Listo",
        "monitor.done.reschedule": "Pase #{id} replanificado",
        "monitor.done.retry": "Pase #{id} reintentado",
        "monitor.done.rollback": "Rollback del pase #{id} en cola",
        "monitor.done.trap": "Pase #{id}: captura {what}",
        "monitor.done.queue_pause": "Cola pausada",
        "monitor.done.queue_resume": "Cola reanudada",
        "monitor.done.queue_clear": "Cola vaciada: {jobs}",
        "count.job.one": "1 pase",
        "count.job.many": "{n} pases",
        "count.job_canceled.one": "1 pase cancelado",
        "count.job_canceled.many": "{n} pases cancelados",
        "count.task.one": "1 tarea",
        "count.task.many": "{n} tareas",
        "count.op.one": "1 operación",
        "count.op.many": "{n} operaciones",
        "count.worker.one": "1 worker",
        "count.worker.many": "{n} workers",
        "monitor.not_allowed": "No permitido: {what}",
        "detail.tasks": "Tareas",
        "detail.tasks_count": "Tareas ({total})",
        "detail.steps": "Pasos",
        "detail.log": "Log",
        "detail.audit": "Auditoría",
        "detail.project": "proyecto",
        "detail.for": "desde hace",
        "detail.step": "paso",
        "detail.reason": "Motivo",
        "detail.exec": "ejec.",
        "detail.trap": "Captura",
        "detail.trap_forever": "sin tiempo límite",
        "detail.paused": "en pausa",
        "detail.time_left": "tiempo restante",
        "detail.natures": "Naturalezas",
        "detail.owner": "Propietario",
        "detail.approvers": "Aprobadores: {who}, o quien apruebe todo en el proyecto",
        "detail.approvers_any": "Aprobadores: quien apruebe todo en el proyecto",
        "detail.envelope": "Sobre",
        "detail.envelope_jobs": "{jobs}, en el orden de la cadena:",
        "detail.envelope_hint": "Baje a un pase para ver sus tareas, pasos y log",
        "detail.envelope_hint.rollback": "{keys} deshace el sobre",
        "detail.envelope_hint.cancel": "{keys} lo cancela",
        "detail.envelope_hint.notifications": "{keys} muestra sus notificaciones",
        "detail.scheduled_at": "Planificada",
        "detail.max_start_at": "Inicio máx.",
        "detail.started_at": "Inicio",
        "detail.ended_at": "Fin",
        "detail.created_at": "Creado",
        "detail.next_run_at": "Próxima ejec.",
        "detail.expires_at": "Expira",
        "detail.replaced_by": "Reemplazado por el pase {job}",
        "detail.schedule": "Planificación",
        "detail.schedule_now": "en su fecha",
        "detail.no_retries": "sin reintentos",
        "detail.window": "Ventana",
        "detail.all_day": "todo el día",
        "detail.fire_and_forget": "Disparar y olvidar",
        "detail.retry_every": "reintento cada {every}",
        "detail.until": "hasta {when}",
        "detail.expires": "expira {when}",
        "col.id": "ID",
        "col.name": "Pase",
        "col.type": "Tipo",
        "col.project": "Proyecto",
        "col.status": "Estado",
        "col.step": "Paso",
        "col.progress": "Progreso",
        "col.natures": "Naturalezas",
        "col.scheduled": "Planificada",
        "col.max_start": "Inicio máx.",
        "col.start": "Inicio",
        "col.end": "Fin",
        "col.elapsed": "Duración",
        "col.wait": "Espera",
        "col.owner": "Propietario",
        "col.envelope": "Sobre",
        "col.target": "Destino",
        "col.last_triggered": "Último disparo",
        "col.current_step": "Paso actual",
        "col.attempts": "Intentos",
        "col.next_attempt": "Próximo intento",
        "col.step_name": "Nombre",
        "col.pipeline_step": "Paso",
        "col.started": "Iniciado",
        "col.skipped": "Saltada",
        "col.completed": "Completado",
        "col.duration": "Duró",
        "col.exit": "Salida",
        "col.at": "Fecha",
        "col.who": "Quién",
        "col.action": "Acción",
        "col.transition": "De → a",
        "col.comment": "Comentario",
        "bar.queue_paused": "COLA EN PAUSA",
        "bar.queue_running": "COLA EN MARCHA",
        # Short enough to stay whole at 80 columns beside the read-only mark.
        "bar.attention": "{count} por atender",
        "bar.shown": "mostrados:",
        "bar.none_shown": "ninguno",
        "bar.unserved": "{count} por empezar, sin motor",
        "filter.no_jobs_yet": "Aún no hay pases: jobtui submit FICHERO.toml, o pruebe jobtui demo",
        "table.wait_chain": "cadena",
        "filter.count": "{shown} de {every} pases",
        "filter.attention": "requieren atención (! para todos)",
        "filter.statuses": "estado: {statuses} (f lo cambia)",
        "filter.text": "texto: {text} (Esc lo borra)",
        "filter.system": "pases de sistema visibles (S los oculta)",
        "filter.nothing_matches": "Nada coincide",
        "filter.hint_text": "Esc borra el texto",
        "filter.hint_statuses": "f, 0, Intro muestra todos los estados",
        "filter.hint_attention": "! de nuevo muestra todos los pases",
        "bar.readonly": "solo lectura",
        "bar.frozen": "CONGELADO (z reanuda)",
        "bar.live": "vivo",
        "tree.envelopes": "Sobres",
        "tree.no_envelope": "(sin sobre)",
        "tree.older_envelopes": "no se muestran los sobres más antiguos: `jobtui envelopes` los lista todos",
        "tree.newest_jobs": "los {n} pases más recientes: la vista de pases (1) los lista todos",
        "tree.job_stats": "{tasks} · {ops}: {done} hechas, {failed} fallidas",
        "envelope.status.SUCCESS": "Correcto",
        "envelope.status.SUCCESS_ACTIVE": "Correcto, activo",
        "envelope.status.ERRORS": "Con errores",
        "envelope.status.ERRORS_ACTIVE": "Con errores, activo",
        "envelope.status.CORRUPT": "Corrupto",
        "envelope.status.CANCELLED": "Cancelado",
        "envelope.status.ROLLEDBACK": "Deshecho",
        "common.envelope": "Sobre #{id} · {name}",
        "common.envelope_facts": "Proyecto {project} · Estado {status} · {jobs}",
        "confirm.envelope_rollback": "¿Hacer rollback de este sobre?",
        "confirm.envelope_cancel": "¿Cancelar este sobre?",
        "confirm.envelope_cancel_msg": "Cada pase suyo que no ha terminado se cancela (la operación en "
        "ejecución se termina); el sobre queda Cancelado.",
        "envelope_rollback.placeholder": (
            "¿Por qué hacer rollback? (queda en la auditoría y en las notificaciones)"
        ),
        "notes.title": "Notificaciones · sobre #{id} {name}",
        "notes.empty": "Sin notificaciones.",
        "notes.hint": "Esc / n / q = cerrar · flechas / RePág / AvPág para desplazar",
        "notes.level.info": "info",
        "notes.level.warning": "aviso",
        "notes.level.error": "error",
        "monitor.done.envelope_rollback": "Rollback del sobre #{id} en cola",
        "monitor.done.envelope_cancel": "Sobre #{id} cancelado: {jobs}",
        "monitor.no_envelope_selected": "Ningún sobre seleccionado",
        "monitor.pick_a_job_of_the_envelope": "Esa tecla lee un pase: vaya a uno de los pases del sobre",
        "monitor.not_in_envelope": "el pase {id} no está en un sobre",
        "monitor.envelope_gone": "el sobre {id} ya no existe",
        "app.engine_embedded": "motor: integrado",
        "app.engine_daemon": "motor: demonio en {host}",
        "app.engine_dashboard": "motor: el de otro panel en {host}",
        "app.engine_embedded_and_dashboard": "motor: integrado + el de otro panel en {host}",
        "app.keymap_error": "Mapa de teclas no aplicado",
        "app.config_error": "Archivo de configuración no aplicado",
        "app.quit.title": "¿Salir de jobtui?",
        "app.quit.message": (
            "El motor integrado tiene {jobs}. Sus operaciones siguen ejecutándose "
            "y el siguiente motor las retoma."
        ),
        "app.engine_none": "motor: ninguno",
        "app.engine_embedded_and_daemon": "motor: integrado + demonio en {host}",
        "app.engine_embedded_stale": "motor: integrado (demonio en {host} sin latido)",
        "app.engine_embedded_stopping": "motor: integrado (demonio en {host} deteniéndose)",
        "app.engine_embedded_stopped": "motor: integrado (demonio en {host} parado)",
        "app.engine_none_stale": "motor: ninguno (demonio en {host} sin latido)",
        "app.engine_none_stopping": "motor: ninguno (demonio en {host} deteniéndose)",
        "app.engine_none_stopped": "motor: ninguno (demonio en {host} parado)",
        "app.engine_no_daemon": "motor: ninguno (sin demonio)",
        "app.engine_handing_over": "motor: integrado, parando (demonio en {host} de vuelta)",
        "app.crashed": "jobtui se detuvo por un error inesperado ({error}); detalles en {path}",
        "monitor.audit": "Auditoría",
        "task.status.SCHEDULED": "Planificada",
        "task.status.RUNNING": "Ejecutando",
        "task.status.RESCHEDULED": "Replanificada",
        "task.status.SUCCEEDED": "Correcta",
        "task.status.FAILED": "Fallida",
        "task.status.CANCELLED": "Cancelada",
        "op.status.pending": "Pendiente",
        "op.status.running": "Ejecutando",
        "op.status.done": "Hecha",
        "op.status.skipped": "Saltada",
        "op.status.failed": "Fallida",
        "type.job": "pase",
        "audit.action.submit": "alta",
        "audit.action.claim": "toma",
        "audit.action.finish": "fin",
        "audit.action.approve": "aprobación",
        "audit.action.reject": "rechazo",
        "audit.action.cancel": "cancelación",
        "audit.action.delete": "borrado",
        "audit.action.rerun": "reinicio",
        "audit.action.reschedule": "replanificación",
        "audit.action.retry": "reintento",
        "audit.action.rollback": "rollback",
        "keybar.palette": "paleta",
        "palette.placeholder": "Buscar órdenes…",
        "palette.quit": "Salir",
        "palette.quit_help": "Salir de la aplicación en cuanto sea posible",
        "palette.maximize": "Maximizar",
        "palette.maximize_help": "Maximizar el elemento seleccionado",
        "palette.minimize": "Restaurar",
        "palette.minimize_help": "Devolver el elemento a su tamaño normal",
        "palette.not_available": "no disponible",
    },
}


# A refusal in another language than English, by its kind (domain/reasons.py). English needs none: it
# says the engine's own words, as the CLI prints them.
REFUSALS: dict[str, dict[str, str]] = {
    "es": {
        "status": "{action}: el pase {job} está {status}; se permite desde {allowed}",
        "permission": "{action}: {user} no tiene el permiso {permission} en el proyecto {project}",
        "not_approver": "{action}: {user} no tiene el permiso {permission} en el proyecto {project} "
        "ni está entre los aprobadores del pase",
        "no_rollback_work": "{action}: el pase {job} no tiene operaciones terminadas con orden de rollback",
        "run_started": "{action}: el pase {job} ya empezó su paso RUN",
        "later_job_ran": "{action}: el pase {later} ({later_name}) del proyecto {project} se ha "
        "ejecutado después del fallo del pase {job}; reinicie ese en su lugar",
        "skips_approval": "{action}: el pase {job} nunca se aprobó; desde POST se saltaría RUN y su "
        "aprobación (reinicie desde PRE o RUN)",
        "skips_run": "{action}: el RUN del pase {job} no terminó bien; desde POST el pase acabaría sin "
        "un RUN correcto (reinicie desde PRE o RUN)",
        "skips_pre": "{action}: el PRE del pase {job} no terminó bien; desde RUN el pase se ejecutaría sin "
        "un PRE correcto (reinicie desde PRE)",
        "envelope_status": "{action}: el sobre {envelope} ({name}) está {status}",
        "envelope_busy": "{action}: el sobre {envelope} ({name}) aún tiene pases en cola o en curso; "
        "espere a que terminen o cancele el sobre",
        "envelope_no_rollback_work": "{action}: el sobre {envelope} ({name}) no tiene operaciones "
        "terminadas con orden de rollback",
        "envelope_newer": "{action}: el sobre {newer} ({newer_name}) del proyecto {project} es más "
        "reciente y no se ha deshecho; haga primero su rollback",
        "chain_waits": "{action}: el pase {waiting} ({waiting_name}) del sobre {envelope} ({name}) espera "
        "al pase {job}; cancele antes el pase {job} (la cadena cancela los que lo siguen) o el sobre",
        "ending": "{action}: el pase {job} está terminando como {status}: antes ejecuta su paso POST, RUN "
        "ya nunca",
        "envelope_job_not_ended": "{action}: el pase {job} del sobre {envelope} ({name}) no ha terminado "
        "({status}): borrado, el sobre se leería como si nunca lo hubiera tenido; cancele antes el pase "
        "{job} o el sobre",
        "op_left_running": "{action}: la operación de la ejecución {exec} del pase {job} puede seguir en "
        "curso en {host} (pid {pid}): su motor se perdió y ningún demonio de {host} ha dado señales desde "
        "entonces para matarla; arranque allí uno antes (o, si {host} no va a volver: jobtui host-gone "
        "{host})",
        "op_canceled_elsewhere": "{action}: la operación de la ejecución {exec} del pase {job} puede seguir "
        "en curso en {host} (pid {pid}): se canceló desde otro equipo, que no puede enviarle señales, y "
        "ningún motor de {host} ha dicho aún que la detuvo; uno que funcione allí lo hace en su siguiente "
        "pasada (arranque uno si no hay, o, si {host} no va a volver: jobtui host-gone {host})",
        "envelope_rolled_back": "{action}: el sobre {envelope} ({name}) del pase {job} se deshizo: "
        "ejecutar el pase de nuevo aplicaría lo que el rollback deshizo; envíe el sobre de nuevo",
        "host_live": "{action}: un motor de {host} (pid {pid}) está vivo: ese equipo no se ha ido; un "
        "demonio arrancado allí mata lo que dejó un motor perdido suyo",
    },
}


def t(key: str, lang: str = DEFAULT_LANG, **fmt: object) -> str:
    """The text for `key` in `lang`, formatted with `fmt`; English when `lang` lacks it."""
    english = MESSAGES[DEFAULT_LANG]
    text = MESSAGES.get(lang, english).get(key)
    if text is None:
        if key not in english:
            raise KeyError(f"unknown text key {key!r}")
        text = english[key]
    return text.format(**fmt)


def refusal_text(reason: str, lang: str, action: str) -> str:
    """A refusal as `lang` says it. English: the engine's own words, as the CLI prints them. Another
    language: its sentence for the reason's kind, with `action` (the refused command's title in `lang`)
    and the statuses by their labels; a reason without a kind it knows keeps the engine's words."""
    if lang == DEFAULT_LANG or not isinstance(reason, Reason):
        return reason
    sentence = REFUSALS.get(lang, {}).get(reason.kind)
    if sentence is None:
        return reason
    facts = {**reason.facts, "action": action}
    if reason.kind == reasons.STATUS:
        facts["status"] = status_label(facts["status"], lang)
        facts["allowed"] = ", ".join(status_label(status, lang) for status in facts["allowed"])
    elif reason.kind == reasons.ENVELOPE_STATUS:
        facts["status"] = envelope_status_text(facts["status"], lang)
    return sentence.format(**facts)


def count_text(n: int, noun: str, lang: str = DEFAULT_LANG) -> str:
    """`n` things of `noun` ("job", "task", "op", "job_canceled") as `lang` says it: "1 job", "3 jobs"
    ("3 job(s)" read as lazy beside everything else the dashboard spells out)."""
    return t(f"count.{noun}.{'one' if n == 1 else 'many'}", lang, n=n)


def status_text(code: str, lang: str = DEFAULT_LANG) -> str:
    """The status label operators know (seed 001 in English, seed 002 in Spanish)."""
    return status_label(code, lang)


def envelope_status_text(code: str, lang: str = DEFAULT_LANG) -> str:
    """An envelope's derived status as operators read it (SUCCESS_ACTIVE → "Success, active")."""
    return t(f"envelope.status.{code}", lang)


def task_status_text(code: str, lang: str = DEFAULT_LANG) -> str:
    """A task's status (SUCCEEDED → "Correcta" in Spanish); a code without a text is shown as it is."""
    return _code_text("task.status", code, lang)


def op_status_text(code: str, lang: str = DEFAULT_LANG) -> str:
    """An op's (a step's) status (done → "hecha" in Spanish); a code without a text is shown as it is."""
    return _code_text("op.status", code, lang)


def type_text(code: str, lang: str = DEFAULT_LANG) -> str:
    """A job's type: the default one in the operator's language, one a definition names as written."""
    return _code_text("type", code, lang)


def audit_action_text(code: str, lang: str = DEFAULT_LANG) -> str:
    """An audit row's action (claim → "toma" in Spanish); English and unknown codes as written."""
    return _code_text("audit.action", code, lang)


def audit_who_text(row: dict[str, object], lang: str = DEFAULT_LANG) -> str:
    """Who an audit row names, and the real user behind them when they were acted as (--as)."""
    by = row.get("by")
    return f"{row['who']} {t('audit.by', lang, user=by)}" if by else str(row["who"])


def audit_row_action_text(row: dict[str, object], lang: str = DEFAULT_LANG) -> str:
    """An audit row's action, marked when it was refused (the job did not change)."""
    action = audit_action_text(str(row["action"]), lang)
    return f"{action} {t('audit.refused', lang)}" if row.get("refused") else action


def audit_status_text(code: str | None, lang: str = DEFAULT_LANG) -> str:
    """A status in an audit row's transition: the code in English (as stored), the label otherwise."""
    if not code:
        return "-"
    if lang == DEFAULT_LANG:
        return code
    try:
        return status_label(code, lang)
    except ValueError:  # a status from a newer engine
        return code


def _code_text(area: str, code: str, lang: str) -> str:
    key = f"{area}.{code}"
    return t(key, lang) if key in MESSAGES[DEFAULT_LANG] else code


_SPAN_UNITS: tuple[tuple[str, int], ...] = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def relative_time(seconds: float, lang: str = DEFAULT_LANG) -> str:
    """How far a date `seconds` from now is, positive in the future: "in 2 h 59 min", "3 d 4 h ago",
    "in 45 s", "now". The one wording of relative dates on screen (detail pane, tasks, dialogs, workers).

    Two adjacent units, the second left out when it is zero ("in 3 h", never "1 d 5 s"): one unit alone
    misled ("in 2 h" for a job due in 2 h 59 min), and a third would not fit the table columns showing it.
    The span is rounded to the second, then the smaller unit is cut, not rounded, as k9s cuts its ages:
    to the second, what is shown has passed (or is still to come) for sure, and a countdown never reads
    more than is left.
    """
    whole = round(seconds)
    if whole == 0:
        return t("time.now", lang)
    rest = abs(whole)
    parts: list[str] = []
    for index, (unit, size) in enumerate(_SPAN_UNITS):
        count, rest = divmod(rest, size)
        if count:
            parts.append(t(f"time.unit.{unit}", lang, n=count))
            if index + 1 < len(_SPAN_UNITS):
                next_unit, next_size = _SPAN_UNITS[index + 1]
                next_count = rest // next_size
                if next_count:
                    parts.append(t(f"time.unit.{next_unit}", lang, n=next_count))
            break
    return t("time.future" if whole > 0 else "time.past", lang, span=" ".join(parts))
