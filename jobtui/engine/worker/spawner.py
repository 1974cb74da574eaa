"""The engine's side of its op starters (`opstarter`): one per worker slot's thread, started with that
slot's first process op, asked to start each of its ops and told when each ends.

The slot's thread asks and reads the answers itself (`Spawner.spawn`, then `Spawned.wait`): no thread in
between. A starter that dies (killed from outside, `kill -9 $PPID` from its op) leaves its op without
anyone to write its status: the op vanished (ABEND), and the slot's next op starts a new starter.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from jobtui.engine.worker import opstarter

_STARTER_FOLDER = str(Path(opstarter.__file__).resolve().parent)
# Never in a starter's own environment: a starter carrying an op token (the engine's own, when the engine
# runs as an op) would be taken for that op.
_NOT_INHERITED = ("JOBTUI_OP_TOKEN", "JOBTUI_FAULT")


def starter_command(quick_s: float) -> list[str]:
    return [
        sys.executable,
        "-S",
        "-E",
        "-c",
        opstarter.BOOT,
        _STARTER_FOLDER,
        f"{opstarter.QUICK_S_FLAG}{quick_s}",
        opstarter.STARTER_NAME,
    ]


class StarterLost(OSError):
    """The starter died before saying whether it started the op."""


class NotStarted(OSError):
    """The starter could not start the op; `exit_code` is the op's, as a shell gives it."""

    def __init__(self, why: str, exit_code: int) -> None:
        super().__init__(why)
        self.exit_code = exit_code


class _Starter:
    """One starter process, used by one slot's thread only."""

    def __init__(self, quick_s: float) -> None:
        env = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
        self.process = subprocess.Popen(
            starter_command(quick_s),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a signal to the engine's group (Ctrl-C, kill) leaves it and its op
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests = self.process.stdin.fileno()
        self.replies = opstarter.MessageReader(self.process.stdout.fileno())
        self.gone = False
        self.sent_base: dict[str, str] | None = None  # the environment the starter builds each op's on

    def ask(self, message: tuple[object, ...]) -> None:
        try:
            opstarter.write_message(self.requests, message)
        except OSError as exc:
            self.lose()
            raise StarterLost(f"the op starter exited: {exc}") from exc

    def answer(self) -> tuple[object, ...] | None:
        try:
            found = self.replies.next()
        except (OSError, EOFError, ValueError):
            found = None
        if found is None:
            self.lose()
        return found

    def lose(self) -> None:
        self.gone = True
        self.close()
        with contextlib.suppress(OSError):
            self.process.stdout.close()  # type: ignore[union-attr]
        # Reaped by a thread of its own: a starter outlives its pipes while its op runs.
        threading.Thread(target=self.process.wait, daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # type: ignore[union-attr]


class Spawned:
    """An op a starter started."""

    def __init__(
        self,
        starter: _Starter | None,
        request_id: int,
        pid: int | None,
        create_time: float,
        log_start: int,
        start: str | None = None,
    ) -> None:
        self.pid, self.create_time, self.log_start = pid, create_time, log_start  # pid: None once unknowable
        self.process_start = start  # domain.processes.start_of
        self.returncode: int | None = None  # as subprocess gives it (negative: a signal)
        # False once the op exited without a byte (its first line was never written: the engine ships it),
        # or its starter died without saying (the engine looks for it in the log).
        self.first_line_written = False
        self.output_lost = ""  # why some of its output did not reach its log
        self._starter, self._request_id = starter, request_id
        self._ended = False
        # It ended within its starter's QUICK_S, told in one answer with its pid: nothing of it to signal.
        self.quick = False

    @classmethod
    def orphan(cls, pid: int | None, create_time: float, start: str | None, log_start: int) -> Spawned:
        """An op whose starter died before saying it started it: it vanished. Its pid when it was found
        by its token, None when it had ended already (nobody can tell it any more)."""
        spawned = cls(None, 0, pid, create_time, log_start, start)
        spawned._ended = True
        return spawned

    def wait(self) -> None:
        """Until the op ends (on the thread that started it)."""
        if self._ended or self._starter is None:
            return
        reply = self._starter.answer()
        # No answer: its starter died, and nobody can tell how the op ends any more. It vanished now, as
        # with its wrapper killed (no status, no return code; what is left of it is killed with the ABEND).
        if reply is not None and reply[0] == self._request_id and reply[1] == "exit":
            self.ended(reply[2], len(reply) < 4 or reply[3], reply[4] if len(reply) > 4 else "")
        self._ended = True

    def ended(self, code: object, first_line_written: object, lost: object = "") -> None:
        """As its starter said it ended: its exit code, whether it wrote the op's first line, and why
        output of it did not reach its log ("" when none was lost)."""
        self.returncode = code if isinstance(code, int) else None
        self.first_line_written = first_line_written is not False
        self.output_lost = lost if isinstance(lost, str) else ""
        self._ended = True

    def running(self) -> bool:
        return not self._ended


class Spawner:
    def __init__(self, quick_s: float | None = None) -> None:
        """`quick_s`: an op that ends this soon after its spawn is told in one answer (opstarter.QUICK_S)."""
        self._quick_s = opstarter.QUICK_S if quick_s is None else quick_s
        self._local = threading.local()
        self._starters: list[_Starter] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closed = False

    def spawn(
        self, argv: Sequence[str], env: Mapping[str, str], log_path: str, status_file: str, first_line: bytes
    ) -> Spawned:
        """Have the op started by this thread's starter; its pid once it is. Raises OSError when it could
        not start, and StarterLost when the starter died before saying."""
        starter = self._starter()
        request_id = next(self._ids)
        base = starter.sent_base
        changes = {name: value for name, value in env.items() if base is None or base.get(name) != value}
        new_base = None
        if base is None or any(name not in env for name in base):
            new_base, changes = dict(env), {}
            starter.sent_base = new_base
        starter.ask((request_id, list(argv), new_base, changes, log_path, first_line, status_file))
        reply = starter.answer()
        if reply is None or reply[0] != request_id:
            raise StarterLost("the op starter exited before saying whether it started the op")
        if reply[1] == "error":
            code = reply[3] if len(reply) > 3 else opstarter.NOT_FOUND
            raise NotStarted(str(reply[2]), code if isinstance(code, int) else opstarter.NOT_FOUND)
        if reply[1] == "ended":  # it ended at once (opstarter.QUICK_S): its end came with its pid
            pid, log_start, code, written = reply[2:6]
            assert isinstance(pid, int) and isinstance(log_start, int)
            spawned = Spawned(None, request_id, pid, 0.0, log_start)
            spawned.ended(code, written, reply[6] if len(reply) > 6 else "")
            spawned.quick = True
            return spawned
        pid, create_time, start, log_start = reply[2:6]
        assert isinstance(pid, int) and isinstance(create_time, float) and isinstance(log_start, int)
        return Spawned(starter, request_id, pid, create_time, log_start, str(start) or None)

    def _starter(self) -> _Starter:
        starter: _Starter | None = getattr(self._local, "starter", None)
        if starter is not None and not starter.gone:
            return starter
        with self._lock:
            if self._closed:
                raise OSError("the engine is stopping")
            starter = _Starter(self._quick_s)
            self._starters.append(starter)
        self._local.starter = starter
        return starter

    def close(self) -> None:
        """Each starter exits once its op, if one runs, has ended; the ops keep running until then."""
        with self._lock:
            self._closed = True
            starters, self._starters = self._starters, []
        for starter in starters:
            starter.close()
