"""Job definitions as data: the ops, schedule and options a submitted job carries.

The file format that produces them lives in jobtui.engine.formats.definition_file.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from jobtui.engine.errors import BadInput

STEPS_WITH_OPS = ("PRE", "RUN", "POST")
ON_ERROR_VALUES = ("fail", "trap", "ignore")
TRAP_TIMEOUT_ACTIONS = ("abort", "skip", "retry")

DEFAULT_TYPE = "job"
DEFAULT_PROJECT = "default"
DEFAULT_TRAP_TIMEOUT = "30m"
DEFAULT_AT = "now"
DEFAULT_MAX_START = "+1d"
SCHEDULE_MODES = ("now", "window")
DEFAULT_RETRY_EVERY = "5m"
# Fire-and-forget jobs stop retrying 30 minutes after their start (seed 003); windowed ones a week after.
DEFAULT_EXPIRES = {"now": "+30m", "window": "+7d"}
# What the engine tells every op in its environment (README): a definition's `env` setting one would have the
# op read another job's id, or its natures written where the engine never reads them.
ENGINE_VARIABLES = (
    "JOBTUI_JOB_ID",
    "JOBTUI_JOB_NAME",
    "JOBTUI_STEP",
    "JOBTUI_TARGET",
    "JOBTUI_EXEC",
    "JOBTUI_NATURES_FILE",
    "JOBTUI_OP_TOKEN",
)


@dataclass(frozen=True)
class OpDef:
    """One operation of a step, as written in a [[pre]], [[run]] or [[post]] table."""

    name: str
    step: str
    index: int
    run: str | None
    argv: tuple[str, ...] | None
    call: str | None
    per_target: bool
    timeout_s: float | None
    on_error: str
    rollback: str | None
    env: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step": self.step,
            "index": self.index,
            "run": self.run,
            "argv": list(self.argv) if self.argv is not None else None,
            "call": self.call,
            "per_target": self.per_target,
            "timeout_s": self.timeout_s,
            "on_error": self.on_error,
            "rollback": self.rollback,
            "env": dict(self.env),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpDef:
        argv = data["argv"]
        timeout = data["timeout_s"]
        return cls(
            name=str(data["name"]),
            step=str(data["step"]),
            index=int(data["index"]),
            run=data["run"],
            argv=tuple(argv) if argv is not None else None,
            call=data["call"],
            per_target=bool(data["per_target"]),
            timeout_s=float(timeout) if timeout is not None else None,
            on_error=str(data["on_error"]),
            rollback=data["rollback"],
            env=tuple(sorted((str(k), str(v)) for k, v in dict(data["env"]).items())),
        )


@dataclass(frozen=True)
class ScheduleDef:
    """Raw schedule text; relative forms are resolved by the engine at submission, not at parse time.

    `at`/`max_start` are the Clarive RUN date and Max Start Date; `mode`, `start`, `expires`, `window`,
    `days` and `retry_every` are seed 003's fire-and-forget and windowed schedules.
    """

    at: str
    max_start: str
    mode: str = "now"
    timezone: str | None = None
    start: str | None = None
    expires: str | None = None
    window: tuple[str, str] | None = None
    days: tuple[str, ...] = ()
    retry_every_s: float = 300.0
    # Seed 003 lifecycles (retries until expiry) apply once any of their keys is written; a file with
    # only `at`/`max_start`, or none, keeps Clarive's behaviour: a failure ends the job at once.
    retrying: bool = False
    # Where each key is written in the definition's file ((key, line), ...), so that a date refused at
    # submission (domain/schedules.py resolves them against the clock) is named at its line as a
    # parse error is. Not part of the value: no equality, hash or stored form (a stored one has none).
    lines: tuple[tuple[str, int], ...] = field(default=(), compare=False)

    def line(self, key: str) -> int | None:
        """The line of `key` in the definition's file, when known."""
        return dict(self.lines).get(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "max_start": self.max_start,
            "mode": self.mode,
            "timezone": self.timezone,
            "start": self.start,
            "expires": self.expires,
            "window": list(self.window) if self.window else None,
            "days": list(self.days),
            "retry_every_s": self.retry_every_s,
            "retrying": self.retrying,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleDef:
        window = data.get("window")
        return cls(
            at=str(data["at"]),
            max_start=str(data["max_start"]),
            mode=str(data.get("mode", "now")),
            timezone=data.get("timezone"),
            start=data.get("start"),
            expires=data.get("expires"),
            window=(str(window[0]), str(window[1])) if window else None,
            days=tuple(data.get("days", ())),
            retry_every_s=float(data.get("retry_every_s", 300.0)),
            retrying=bool(data.get("retrying", False)),
        )


@dataclass(frozen=True)
class Definition:
    """A validated job definition."""

    name: str
    type: str
    project: str
    natures: tuple[str, ...]
    system: bool
    approval: bool
    approvers: tuple[str, ...]
    rollback_on_error: bool
    trap_timeout_s: float
    trap_timeout_action: str
    targets: tuple[str, ...]
    schedule: ScheduleDef
    pre: tuple[OpDef, ...]
    run: tuple[OpDef, ...]
    post: tuple[OpDef, ...]
    source: str

    def ops(self, step: str) -> tuple[OpDef, ...]:
        """Ops of a step; steps that never carry ops (e.g. CHECK) simply have none."""
        upper = step.upper()
        if upper == "PRE":
            return self.pre
        if upper == "RUN":
            return self.run
        if upper == "POST":
            return self.post
        return ()

    def all_ops(self) -> tuple[OpDef, ...]:
        return self.pre + self.run + self.post

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "project": self.project,
            "natures": list(self.natures),
            "system": self.system,
            "approval": self.approval,
            "approvers": list(self.approvers),
            "rollback_on_error": self.rollback_on_error,
            "trap_timeout_s": self.trap_timeout_s,
            "trap_timeout_action": self.trap_timeout_action,
            "targets": list(self.targets),
            "schedule": self.schedule.to_dict(),
            "pre": [op.to_dict() for op in self.pre],
            "run": [op.to_dict() for op in self.run],
            "post": [op.to_dict() for op in self.post],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Definition:
        """Rebuild from to_dict() output (e.g. a job's stored definition)."""
        try:
            schedule = data["schedule"]
            return cls(
                name=str(data["name"]),
                type=str(data["type"]),
                project=str(data["project"]),
                natures=tuple(data["natures"]),
                system=bool(data["system"]),
                approval=bool(data["approval"]),
                approvers=tuple(data["approvers"]),
                rollback_on_error=bool(data["rollback_on_error"]),
                trap_timeout_s=float(data["trap_timeout_s"]),
                trap_timeout_action=str(data["trap_timeout_action"]),
                targets=tuple(data["targets"]),
                schedule=ScheduleDef.from_dict(schedule),
                pre=tuple(OpDef.from_dict(op) for op in data["pre"]),
                run=tuple(OpDef.from_dict(op) for op in data["run"]),
                post=tuple(OpDef.from_dict(op) for op in data["post"]),
                source=str(data["source"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            source = data.get("source", "<stored definition>")
            reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise DefinitionError([f"{source}: stored definition is damaged ({reason})"]) from exc


class DefinitionError(BadInput, ValueError):
    """The definition was refused; str() lists every problem, one per line, ready to show."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))

    def __str__(self) -> str:
        return "\n".join(self.errors)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep .errors intact when the error crosses a process boundary.
        return (type(self), (self.errors,))


@functools.lru_cache(maxsize=512)
def definition_from_text(text: str) -> Definition:
    """A job's definition as stored (jobs.definition). Jobs of one definition share its text; the engine
    asks for it at every op."""
    return Definition.from_dict(json.loads(text))
