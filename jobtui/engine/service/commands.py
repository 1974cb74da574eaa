"""The one registry of operator commands: each key of the dashboard and its CLI verb, declared once.

The dashboard's bindings, footer, help, palette and dimmed keys, and the CLI's job subcommands, are built
from `COMMANDS`. Whether a job command is allowed comes from the transition table (`ACTIONS`): an entry
names the table's rows it runs, never its own list of statuses. Adding a command is one entry here plus
its handler (`action_<id>` on the monitor, `_cmd_<verb>` in the CLI when its arguments are special).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from jobtui.engine.domain import reasons
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.domain.reasons import Reason
from jobtui.engine.domain.states import ACTIONS, Perm, Status, display_action


class Asks(StrEnum):
    """What the dashboard asks before it runs a command."""

    NOTHING = "nothing"
    CONFIRM = "confirm"
    CONFIRM_COMMENT = "confirm, with an optional comment"
    CONFIRM_REASON = "confirm, with an optional reason"  # the queue's pause: the header shows it
    COMMENT = "comment"  # a choice (retry/skip/abort) and an optional comment
    REASON = "reason"
    DATE = "date"
    STEP = "step"


class Acts(StrEnum):
    """What a command acts on: the selected job, the queue, or the dashboard itself."""

    JOB = "job"
    QUEUE = "queue"
    VIEW = "view"


@dataclass(frozen=True)
class CliArg:
    """One argument of a generated CLI subcommand (after the job id)."""

    name: str  # "--comment" for an option, "when" for a positional
    help: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    flag: bool = False  # an option without a value (store_true)
    upper: bool = False  # the value is upper-cased before it is checked (--step run)


@dataclass(frozen=True)
class CliVerb:
    """The CLI subcommand a command owns: `jobtui <verb> ID [args]`."""

    verb: str
    help: str
    args: tuple[CliArg, ...] = ()
    done: str = ""  # the past tense the CLI prints: "job 3: approved (Ready)"


Texts = Mapping[str, str]  # language → text


@dataclass(frozen=True)
class Command:
    id: str  # the binding id (keys.toml remaps by it) and the monitor's action name
    key: str  # the default key, as Textual names it
    label: Texts  # the footer's word
    description: Texts  # help and palette: what it does
    acts: Acts = Acts.VIEW
    rules: tuple[str, ...] = ()  # rows of the transition table it runs; allowed when any row is
    permission: Perm | None = None  # for commands outside the table (queue)
    # The queue's actions it runs (`QUEUE_ACTIONS`), as the audit trail names them: one, or a toggle's two
    # (what it does while the queue runs, then while it is paused).
    queue_actions: tuple[str, ...] = ()
    asks: Asks = Asks.NOTHING
    cli: CliVerb | None = None  # the subcommand it owns
    cli_usage: str = ""  # how to do the same from the CLI when it shares another's verb
    footer: bool = True
    # It reads the jobs or arranges their list (filter, sort, a job's envelope's notifications) without
    # acting on one: meaningless in the workers view, which shows engines, where it is hidden.
    about_jobs: bool = False
    opens_input: bool = False  # its binding is a priority binding: typed-ahead keys reach the input
    action: str = ""  # the Textual action string, when it takes arguments ("view('jobs')")
    # In the envelopes view a few keys act on the envelope under the cursor: their words change there.
    envelope_label: Texts = field(default_factory=dict)
    envelope_description: Texts = field(default_factory=dict)
    # The envelope's own subcommand such a key runs there (`jobtui envelope-cancel ID`): the same service
    # call, refused (and audited) as that verb is, asking what `asks` says.
    envelope_cli: CliVerb | None = None
    # It acts on the envelope on the envelope's own line only; on one of its jobs' lines it acts on that
    # job, as in the jobs view (`c` cancels the job there; `b` rolls back the job's envelope anywhere).
    envelope_line_only: bool = False
    # A queue toggle's words while the queue is paused (its key resumes it then).
    paused_label: Texts = field(default_factory=dict)
    # A job toggle's words while the job it acts on is in one of `resumes_from` (its key resumes it then).
    resume_label: Texts = field(default_factory=dict)
    resumes_from: frozenset[str] = frozenset()
    # The words an operator may look for it by in the palette beyond its label (what it does, the choices
    # it asks for: "skip" finds Trap), space-separated; each word typed must begin one of these or the
    # label's.
    words: Texts = field(default_factory=dict)

    @property
    def needs_job(self) -> bool:
        return self.acts is Acts.JOB

    @property
    def action_name(self) -> str:
        return self.action or self.id

    @property
    def shows_no_engines(self) -> bool:
        """Hidden in the workers view: it acts on a job, reads one, or arranges the job list."""
        return self.needs_job or self.about_jobs

    @property
    def allowed_from(self) -> frozenset[Status]:
        """The statuses the transition table allows it from (empty: not a job command)."""
        statuses: frozenset[Status] = frozenset()
        for rule in self.rules:
            statuses |= ACTIONS[rule].allowed_from
        return statuses

    @property
    def permissions(self) -> frozenset[Perm]:
        found = {ACTIONS[rule].permission for rule in self.rules}
        if self.permission is not None:
            found.add(self.permission)
        return frozenset(found)

    def on_envelope(self, envelopes: bool, envelope_line: bool) -> bool:
        """Whether, in the view shown (`envelopes`: the envelopes view; `envelope_line`: the tree's cursor is
        on an envelope's own line), the key acts on the envelope under the cursor, and says so."""
        return envelopes and (not self.envelope_line_only or envelope_line)

    @property
    def toggles_queue(self) -> bool:
        """What it does depends on whether the queue is paused (pause or resume)."""
        return len(self.queue_actions) > 1

    def audited_action(self, queue_paused: bool = False) -> str:
        """The action a refusal of it is recorded as, named as the CLI's refusal of it is: its one table
        row, or its queue action (a toggle's by whether the queue is `queue_paused`); else its label (`t`,
        `p`: one of several rows)."""
        if len(self.rules) == 1:
            return display_action(self.rules[0])
        if self.queue_actions:
            return display_action(self.queue_actions[1 if queue_paused and self.toggles_queue else 0])
        return self.label["en"].lower()

    def label_in(
        self, lang: str, envelopes: bool = False, queue_paused: bool = False, job_status: str | None = None
    ) -> str:
        """Its words in `lang`, for where it acts: in the envelopes view, with the queue paused or not, on a
        job in `job_status` (the detail pane's)."""
        texts = self.label
        if envelopes and self.envelope_label:
            texts = self.envelope_label
        elif queue_paused and self.paused_label:
            texts = self.paused_label
        elif job_status in self.resumes_from and self.resume_label:
            texts = self.resume_label
        return texts.get(lang) or texts["en"]

    def description_in(self, lang: str, envelopes: bool = False) -> str:
        texts = self.envelope_description if envelopes and self.envelope_description else self.description
        return texts.get(lang) or texts["en"]

    def words_in(self, lang: str) -> str:
        return self.words.get(lang) or self.words.get("en", "")


_COMMENT = CliArg("--comment", "why (kept in the audit trail)")
_ID_ONLY: tuple[CliArg, ...] = ()

COMMANDS: tuple[Command, ...] = (
    Command(
        "approve",
        "a",
        {"en": "Approve", "es": "Aprobar"},
        {
            "en": "Approve the job waiting for approval: it goes on to RUN at its date (asks first, with an "
            "optional comment)",
            "es": "Aprobar el pase que espera aprobación: sigue a RUN en su fecha (pregunta antes, con un "
            "comentario opcional)",
        },
        Acts.JOB,
        ("approve",),
        asks=Asks.CONFIRM_COMMENT,
        cli=CliVerb("approve", "approve a job waiting for approval", (_COMMENT,), "approved"),
        words={"en": "accept allow", "es": "aceptar autorizar"},
    ),
    Command(
        "reject",
        "x",
        {"en": "Reject", "es": "Rechazar"},
        {
            "en": "Reject the job waiting for approval: it ends Rejected (after its POST step; asks first, "
            "with an optional comment)",
            "es": "Rechazar el pase que espera aprobación: termina Rechazado (tras su POST; pregunta antes, "
            "con un comentario opcional)",
        },
        Acts.JOB,
        ("reject",),
        asks=Asks.CONFIRM_COMMENT,
        cli=CliVerb("reject", "reject it", (_COMMENT,), "rejected"),
        words={"en": "refuse deny decline", "es": "denegar rehusar"},
    ),
    Command(
        "cancel",
        "c",
        {"en": "Cancel", "es": "Cancelar"},
        {
            "en": "Cancel the job; a running op is terminated (asks first, with an optional comment)",
            "es": "Cancelar el pase; la operación en curso se termina (pregunta antes, con un comentario "
            "opcional)",
        },
        Acts.JOB,
        ("cancel",),
        asks=Asks.CONFIRM_COMMENT,
        cli=CliVerb("cancel", "cancel a job (terminates its running op)", (_COMMENT,), "canceled"),
        words={"en": "stop kill terminate", "es": "detener parar matar terminar"},
        envelope_label={"en": "Cancel envelope", "es": "Cancelar sobre"},
        envelope_description={
            "en": "Cancel the envelope under the cursor: every job of it that has not ended (asks first, "
            "with an optional comment); on one of its jobs, cancel that job",
            "es": "Cancelar el sobre bajo el cursor: cada pase suyo que no ha terminado (pregunta antes, "
            "con un comentario opcional); sobre uno de sus pases, cancelar ese pase",
        },
        envelope_cli=CliVerb(
            "envelope-cancel", "cancel every job of an envelope that has not ended", (_COMMENT,)
        ),
        envelope_line_only=True,
    ),
    Command(
        "delete",
        "d",
        {"en": "Delete", "es": "Borrar"},
        {
            "en": "Delete the job with its tasks, steps and log, unless it is running (asks first)",
            "es": "Borrar el pase con sus tareas, pasos y log, salvo en ejecución (pregunta antes)",
        },
        Acts.JOB,
        ("delete",),
        asks=Asks.CONFIRM,
        cli=CliVerb("delete", "delete a job with its tasks, steps and log", _ID_ONLY, "deleted"),
        words={"en": "remove erase", "es": "eliminar quitar"},
    ),
    Command(
        "rerun",
        "r",
        {"en": "Rerun", "es": "Reiniciar"},
        {
            "en": "Run the job again from a step you choose (PRE, RUN or POST), unless it is running",
            "es": "Volver a ejecutar el pase desde el paso que elija (PRE, RUN o POST), salvo en ejecución",
        },
        Acts.JOB,
        ("rerun",),
        asks=Asks.STEP,
        cli=CliVerb(
            "rerun",
            "rerun a job from a step",
            (
                CliArg(
                    "--step",
                    "the step to run from",
                    required=True,
                    choices=("PRE", "RUN", "POST"),
                    upper=True,
                ),
                CliArg("--now", "RUN: ignore the scheduled date", flag=True),
            ),
        ),
        words={"en": "restart again step pre run post", "es": "relanzar otra vez paso pre run post"},
    ),
    Command(
        "reschedule",
        "s",
        {"en": "Reschedule", "es": "Replanificar"},
        {
            "en": "Set a new date for the job's RUN step (and its Max Start Date)",
            "es": "Fijar una nueva fecha para el paso RUN del pase (y su fecha máxima de inicio)",
        },
        Acts.JOB,
        ("reschedule",),
        asks=Asks.DATE,
        cli=CliVerb(
            "reschedule",
            "set a new RUN date",
            (CliArg("when", 'ISO 8601, "now", "+2h", "tomorrow 02:00"'),),
            "rescheduled",
        ),
        opens_input=True,
        words={"en": "date time postpone delay move", "es": "fecha hora aplazar posponer mover"},
    ),
    Command(
        "trap",
        "t",
        {"en": "Trap", "es": "Captura"},
        {
            "en": "Resolve the trapped job: retry, skip or abort the op that failed",
            "es": "Resolver el pase capturado: reintentar, saltar o abortar la operación fallida",
        },
        Acts.JOB,
        ("trap_retry", "trap_skip", "trap_abort"),
        asks=Asks.COMMENT,
        cli=CliVerb(
            "trap",
            "resolve a trapped job",
            (CliArg("what", "", choices=("retry", "skip", "abort", "pause", "resume")), _COMMENT),
        ),
        opens_input=True,
        words={"en": "retry skip abort resolve", "es": "reintentar saltar abortar resolver"},
    ),
    Command(
        "trap_pause",
        "p",
        {"en": "Trap pause", "es": "Pausar captura"},
        {
            "en": "Stop (or restart) the trapped job's timeout countdown",
            "es": "Detener (o reanudar) la cuenta atrás del pase capturado",
        },
        Acts.JOB,
        ("trap_pause", "trap_resume"),
        resume_label={"en": "Trap resume", "es": "Reanudar captura"},
        resumes_from=frozenset({"TRAP_PAUSED"}),
        cli_usage="jobtui trap ID pause|resume",
        words={"en": "resume countdown timeout", "es": "reanudar cuenta atrás tiempo"},
    ),
    Command(
        "rollback",
        "b",
        {"en": "Rollback", "es": "Rollback"},
        {
            "en": "Roll back the job's completed ops, newest first (asks for a reason)",
            "es": "Deshacer las operaciones completadas del pase, de la última a la primera (pide un motivo)",
        },
        Acts.JOB,
        ("rollback",),
        asks=Asks.REASON,
        cli=CliVerb(
            "rollback", "roll back a job's completed ops", (CliArg("--reason", "why"),), "rollback requested"
        ),
        opens_input=True,
        envelope_label={"en": "Roll back envelope", "es": "Rollback del sobre"},
        envelope_description={
            "en": "Roll back the envelope under the cursor (the most recent of its project first)",
            "es": "Hacer rollback del sobre bajo el cursor (primero el más reciente de su proyecto)",
        },
        envelope_cli=CliVerb(
            "envelope-rollback",
            "roll back an envelope (the most recent of its project first)",
            (CliArg("--reason", "why (kept in the audit trail and the notifications)", required=True),),
        ),
        words={"en": "undo revert", "es": "deshacer revertir"},
    ),
    Command(
        "retry",
        "y",
        {"en": "Retry", "es": "Reintentar"},
        {
            "en": "Run the failed job again from the step that failed (partially succeeded: only the tasks "
            "that did not succeed; asks first)",
            "es": "Volver a ejecutar el pase fallido desde el paso que falló (parcialmente correcto: solo "
            "las tareas que no salieron bien; pregunta antes)",
        },
        Acts.JOB,
        ("retry",),
        asks=Asks.CONFIRM,
        cli=CliVerb(
            "retry",
            "rerun a failed job from its failed step (a partially succeeded one: only its tasks that did not "
            "succeed, from where they stopped)",
            _ID_ONLY,
            "retried",
        ),
        words={"en": "again failed", "es": "otra vez fallido"},
    ),
    Command(
        "queue_toggle",
        "P",
        {"en": "Pause queue", "es": "Pausar cola"},
        {
            "en": "Pause the queue (no queued job starts) or resume it (asks first; a pause with an "
            "optional reason)",
            "es": "Pausar la cola (ningún pase en cola empieza) o reanudarla (pregunta antes; la pausa, con "
            "un motivo opcional)",
        },
        Acts.QUEUE,
        permission=Perm.QUEUE_ADMIN,
        queue_actions=("queue_pause", "queue_resume"),
        paused_label={"en": "Resume queue", "es": "Reanudar cola"},
        asks=Asks.CONFIRM_REASON,
        cli_usage="jobtui queue pause|resume",
        words={"en": "resume hold", "es": "reanudar retener"},
    ),
    Command(
        "queue_clear",
        "C",
        {"en": "Clear queue", "es": "Vaciar cola"},
        {
            "en": "Cancel every queued job; running jobs finish (asks first)",
            "es": "Cancelar todos los pases en cola; los que corren terminan (pregunta antes)",
        },
        Acts.QUEUE,
        permission=Perm.QUEUE_ADMIN,
        queue_actions=("queue_clear",),
        asks=Asks.CONFIRM,
        cli_usage="jobtui queue clear",
        words={"en": "empty purge flush", "es": "purgar limpiar"},
    ),
    Command(
        "full_log",
        "l",
        {"en": "Log", "es": "Log"},
        {
            "en": "The job's log: follows new output, / search, w wrap, Y copy a line, o in $PAGER",
            "es": "El log del pase: sigue lo nuevo, / buscar, w ajustar, Y copiar una línea, o en $PAGER",
        },
        Acts.JOB,
        cli_usage="jobtui log ID",
        words={"en": "output search", "es": "salida buscar"},
    ),
    Command(
        "copy_id",
        "Y",
        {"en": "Copy id", "es": "Copiar id"},
        {
            "en": "Copy the job's id to the clipboard (through the terminal: OSC 52, over SSH and tmux too)",
            "es": "Copiar el id del pase al portapapeles (por el terminal: OSC 52, también por SSH y tmux)",
        },
        Acts.JOB,
        footer=False,
        words={"en": "clipboard", "es": "portapapeles"},
    ),
    Command(
        "audit",
        "u",
        {"en": "Audit", "es": "Auditoría"},
        {
            "en": "The job's audit trail: who changed what, when and why",
            "es": "La auditoría del pase: quién cambió qué, cuándo y por qué",
        },
        Acts.JOB,
        cli_usage="jobtui audit ID",
        words={"en": "history trail who", "es": "historial quién"},
    ),
    Command(
        "notifications",
        "n",
        {"en": "Notifications", "es": "Notificaciones"},
        {
            "en": "The notifications of the selected job's envelope",
            "es": "Las notificaciones del sobre del pase seleccionado",
        },
        cli_usage="jobtui envelope ID",
        envelope_description={
            "en": "The notifications of the envelope under the cursor",
            "es": "Las notificaciones del sobre bajo el cursor",
        },
        about_jobs=True,
    ),
    Command(
        "view_jobs",
        "1",
        {"en": "Jobs", "es": "Pases"},
        {"en": "Show the job table", "es": "Mostrar la tabla de pases"},
        action="view('jobs')",
        cli_usage="jobtui jobs",
    ),
    Command(
        "view_envelopes",
        "2",
        {"en": "Envelopes", "es": "Sobres"},
        {"en": "Show the envelope tree", "es": "Mostrar el árbol de sobres"},
        action="view('envelopes')",
        cli_usage="jobtui envelopes",
    ),
    Command(
        "view_workers",
        "3",
        {"en": "Workers", "es": "Motores"},
        {
            "en": "Show the engines: host, slots busy, jobs held, heartbeat; and the last hour's throughput",
            "es": "Mostrar los motores: host, ranuras ocupadas, pases, latido; y el rendimiento de la "
            "última hora",
        },
        action="view('workers')",
        cli_usage="jobtui workers",
    ),
    Command(
        "zoom",
        "Z",
        {"en": "Zoom", "es": "Ampliar"},
        {
            "en": "Fill the screen with the focused part (the table, the detail pane, the tree), "
            "or restore it",
            "es": "Llenar la pantalla con la parte que tiene el foco (la tabla, el detalle, el árbol) o "
            "devolverla",
        },
        footer=False,
    ),
    Command(
        "filter",
        "slash",
        {"en": "Filter", "es": "Filtrar"},
        {
            "en": "Filter jobs by name, project, owner or target (Esc clears)",
            "es": "Filtrar pases por nombre, proyecto, dueño o destino (Esc lo borra)",
        },
        opens_input=True,
        about_jobs=True,
    ),
    Command(
        "command_line",
        "colon",
        {"en": "Command", "es": "Orden"},
        {
            "en": "Command line: :42 moves the cursor to job 42, :q quits",
            "es": "Línea de órdenes: :42 lleva el cursor al pase 42, :q sale",
        },
        opens_input=True,
    ),
    Command(
        "status_filter",
        "f",
        {"en": "Status filter", "es": "Filtro de estado"},
        {
            "en": "Choose the statuses to show: space ticks, enter applies; presets a attention, r running, "
            "x failed, 0 all",
            "es": "Elegir los estados que se muestran: espacio marca, intro aplica; atajos a atención, "
            "r en curso, x fallidos, 0 todos",
        },
        opens_input=True,
        about_jobs=True,
    ),
    Command(
        "attention",
        "exclamation_mark",
        {"en": "Attention", "es": "Atención"},
        {
            "en": "Show only the jobs waiting for a person (trapped, approval, failed...), oldest first; "
            "again for every job",
            "es": "Mostrar solo los pases que esperan a una persona (atrapados, aprobación, fallidos...), "
            "los más antiguos primero; otra vez para todos",
        },
        about_jobs=True,
    ),
    Command(
        "toggle_system",
        "S",
        {"en": "System jobs", "es": "Pases de sistema"},
        {"en": "Show or hide system jobs", "es": "Mostrar u ocultar los pases de sistema"},
        about_jobs=True,
    ),
    Command(
        "freeze",
        "z",
        {"en": "Freeze", "es": "Congelar"},
        {
            "en": "Freeze the screen (nothing moves) or thaw it",
            "es": "Congelar la pantalla (nada se mueve) o descongelarla",
        },
    ),
    Command(
        "sort_next",
        "greater_than_sign",
        {"en": "Sort →", "es": "Ordenar →"},
        {"en": "Sort by the next column", "es": "Ordenar por la columna siguiente"},
        footer=False,
        action="sort(1)",
        about_jobs=True,
    ),
    Command(
        "sort_prev",
        "less_than_sign",
        {"en": "Sort ←", "es": "Ordenar ←"},
        {"en": "Sort by the previous column", "es": "Ordenar por la columna anterior"},
        footer=False,
        action="sort(-1)",
        about_jobs=True,
    ),
    Command(
        "reverse_sort",
        "O",
        {"en": "Reverse sort", "es": "Invertir orden"},
        {"en": "Reverse the sort order", "es": "Invertir el orden"},
        footer=False,
        about_jobs=True,
    ),
    Command(
        "help",
        "question_mark",
        {"en": "Help", "es": "Ayuda"},
        {"en": "This list of keys", "es": "Esta lista de teclas"},
    ),
)

BY_ID: dict[str, Command] = {command.id: command for command in COMMANDS}
# By the action its binding runs, without arguments ("sort" for sort(1) and sort(-1)): what a screen's
# check_action is asked about.
BY_ACTION: dict[str, Command] = {command.action_name.split("(")[0]: command for command in COMMANDS}


@dataclass(frozen=True)
class FixedKey:
    """A key help lists that is not a command of the registry: moving around, quitting."""

    keys: str
    description: Texts


# Keys Textual or the app handle themselves; help lists them so that every key on screen is explained.
FIXED_KEYS: tuple[FixedKey, ...] = (
    FixedKey("↑ ↓  k j", {"en": "Move the cursor one job", "es": "Mover el cursor un pase"}),
    FixedKey("← →", {"en": "Envelope tree: collapse or expand", "es": "Árbol de sobres: plegar o desplegar"}),
    FixedKey("PgUp PgDn", {"en": "Move a page", "es": "Mover una página"}),
    FixedKey("Home End  g G", {"en": "First or last job", "es": "Primer o último pase"}),
    FixedKey(
        "Tab  Shift+Tab",
        {"en": "Move the focus to the next part", "es": "Pasar el foco a la parte siguiente"},
    ),
    FixedKey("Esc", {"en": "Clear the filter; close a dialog", "es": "Borrar el filtro; cerrar un diálogo"}),
    FixedKey(
        "Ctrl+P", {"en": "Command palette: every command by name", "es": "Paleta: cada comando por su nombre"}
    ),
    FixedKey(
        "q  Ctrl+Q",
        {
            "en": "Quit (asks while the embedded engine holds jobs)",
            "es": "Salir (pregunta si el motor integrado tiene pases)",
        },
    ),
)


def job_commands() -> tuple[Command, ...]:
    return tuple(command for command in COMMANDS if command.acts is Acts.JOB and command.rules)


def cli_commands() -> tuple[Command, ...]:
    return tuple(command for command in COMMANDS if command.cli is not None)


def envelope_commands() -> tuple[Command, ...]:
    """The commands whose key acts on an envelope in the envelopes view, each with its own CLI verb."""
    return tuple(command for command in COMMANDS if command.envelope_cli is not None)


def enabled_for(command: Command, allowed: Mapping[str, str | None]) -> bool:
    """Whether a job command may run now: `allowed` maps each row of the table to None (allowed) or its
    refusal, as the service's `Actions.allowed` answers for one job and one actor."""
    return any(allowed.get(rule, "") is None for rule in command.rules)


def refusal_for(
    command: Command,
    allowed: Mapping[str, str | None],
    job_id: int | None = None,
    status: str | None = None,
) -> str | None:
    """The reason the service gave for refusing `command` (None: no job, or no reason known).

    A key that runs one of several actions (`p` pauses or resumes a trap's countdown, `t` retries, skips
    or aborts) is refused for the job's status only when each of them is: the reason then names every
    status the key works from, not those of its first action alone ("allowed from TRAPPED" for `p`,
    which also resumes a TRAP_PAUSED job). `job_id` and `status` are the job's, to say so."""
    reasons = [allowed.get(rule) for rule in command.rules]
    if len(reasons) > 1 and all(reasons) and job_id is not None and status is not None:
        merged = status_refusal(command, job_id, status)
        if merged is not None:
            return merged
    return next((reason for reason in reasons if reason), None)


def status_refusal(command: Command, job_id: int, status: str) -> str | None:
    """Every action of `command` refused from `status` by the transition table, as one reason (None when
    one of them allows it: it was refused for something else, whose reason the service gave). For one
    action, the service's own words (`states.refusal_for_status`)."""
    allowed_from = statuses_allowing(command, status)
    if allowed_from is None:
        return None
    listed = tuple(state.value for state in allowed_from)
    name = display_action(command.id)
    return Reason(
        f"{name}: job {job_id} is {status}; allowed from {', '.join(listed)}",
        reasons.STATUS,
        action=name,
        job=job_id,
        status=status,
        allowed=listed,
    )


def statuses_allowing(command: Command, status: str) -> list[Status] | None:
    """The statuses `command` works from, in the table's order, when the transition table refuses every
    action of it from `status` (None when one of them allows it, or `status` is unknown to this version:
    a newer daemon wrote it). A dashboard says the refusal in its own language from these."""
    try:
        current = Status(status)
    except ValueError:
        return None
    rules = [ACTIONS[rule] for rule in command.rules if rule in ACTIONS]
    if not rules or len(rules) != len(command.rules) or any(current in rule.allowed_from for rule in rules):
        return None
    allowed_from = {state for rule in rules for state in rule.allowed_from}
    return [state for state in Status if state in allowed_from]


def refusal_by_permission(command: Command, actor: Actor) -> str | None:
    """Why `actor` may not run a command that is not about one job (the queue's), or None. The service
    refuses the same way when it is run (`Actor.require`)."""
    if command.permission is None or actor.may(command.permission, "*"):
        return None
    name = command.label["en"].lower()
    return Reason(
        f"{name}: {actor.user} lacks {command.permission.value} on project *",
        reasons.PERMISSION,
        action=name,
        user=actor.user,
        permission=command.permission.value,
        project="*",
    )
