"""Each job of a sweep on its own: one whose handling fails never stalls the engine."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

from jobtui.engine.errors import CorruptRow

log = logging.getLogger("jobtui.engine")


class JobsAlone:
    """Wraps each job's transaction of a sweep (trap timeouts, Max Start Dates, schedules run out). A job
    whose handling raises (a bug, a row it cannot make sense of) has its transaction undone and is tried
    again next pass, said in the log once for as long as it fails the same way; the sweep goes on with
    the other jobs and the engine with its pass. The database's own errors (any DBAPIError: unreachable,
    read-only after a failover) still end the pass: the engine backs off from those.

    Found by an operator: a trap timeout's abort that raised failed every pass, and with it every claim
    and every op's end, while the worker's heartbeat still read live."""

    def __init__(self) -> None:
        self._failing: dict[tuple[str, int], str] = {}

    @contextmanager
    def job(self, sweep: str, job_id: int) -> Iterator[None]:
        key = (sweep, job_id)
        try:
            yield
        except DBAPIError:
            raise  # the database's own (unreachable, read-only): the pass ends, the loop backs off
        except CorruptRow as problem:
            # A row changed by hand: said in one line, as the batch says it (an operator may repair it).
            if self._say(key, str(problem)):
                log.error(
                    "job %s: its %s cannot be applied: %s (repair or delete the row)", job_id, sweep, problem
                )
        except Exception as exc:
            if self._say(key, f"{type(exc).__name__}: {exc}"):
                log.exception(
                    "job %s: its %s failed; tried again each pass, the other jobs go on", job_id, sweep
                )
        else:
            self._failing.pop(key, None)

    def _say(self, key: tuple[str, int], said: str) -> bool:
        """Whether the failure is new for the job (first, or not what it was): said then, not each pass."""
        if self._failing.get(key) == said:
            return False
        self._failing[key] = said
        return True
