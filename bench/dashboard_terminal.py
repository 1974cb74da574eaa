"""Shared by the dashboard benchmarks: run the real `jobtui` in a pseudo-terminal and time it from outside.

Not a benchmark itself. The child is the real command (`jobtui.cli.main`, Textual's Linux driver writing
to a real pty); it reports monotonic timestamps (CLOCK_MONOTONIC is one clock for every process) on a
pipe, so the parent can count from the moment it spawned the process.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Installed packages carry their bytecode; this checkout is run from source with
# PYTHONDONTWRITEBYTECODE set, which would count compiling jobtui in every start-up. The children keep
# their bytecode here instead (outside the repository), compiled once by `warm_bytecode`.
PYCACHE = Path(tempfile.gettempdir()) / "jobtui-bench-pycache"
KEYS = {"down": b"\x1b[B", "pagedown": b"\x1b[6~", "up": b"\x1b[A"}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("JOBTUI_") or k.startswith("JOBTUI_BENCH_")
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONPYCACHEPREFIX=str(PYCACHE),
        TERM="xterm-256color",
        COLORTERM="truecolor",
        JOBTUI_KEYS=str(PYCACHE / "no-keys.toml"),
    )
    env.update(extra or {})
    return env


def warm_bytecode() -> None:
    """Compile what the dashboard imports once, as `pip install` would have."""
    subprocess.run(
        [sys.executable, "-c", "import jobtui.cli, jobtui.app, jobtui.engine.worker.loop, psutil"],
        env=child_env(),
        check=True,
    )


class Child:
    """A process on a pty of the given size; its terminal output is drained (and counted) in a thread."""

    def __init__(self, argv: Sequence[str], size: tuple[int, int], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        report_r, report_w = os.pipe()
        self.master = master
        self._report = report_r
        self._pending = b""
        self.output_bytes = 0
        self.tail = b""  # the end of what the process wrote, for a traceback when it fails
        env = {**env, "JOBTUI_BENCH_REPORT_FD": str(report_w)}
        self.spawned_at = time.perf_counter()
        self.proc = subprocess.Popen(
            list(argv),
            # Textual draws on stderr: all three are the terminal.
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            pass_fds=(report_w,),
            start_new_session=True,
        )
        os.close(slave)
        os.close(report_w)
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.5)
                if ready:
                    data = os.read(self.master, 65536)
                    if not data:
                        return
                    self.output_bytes += len(data)
                    self.tail = (self.tail + data)[-8192:]
                elif self.proc.poll() is not None:
                    return
            except OSError:
                return

    def send(self, data: bytes) -> float:
        """Write keys as a terminal would (no waiting for the screen); returns when the write began."""
        began = time.perf_counter()
        view = memoryview(data)
        while view:
            written = os.write(self.master, view)
            view = view[written:]
        return began

    def poll(self, timeout: float) -> dict[str, Any] | None:
        """The child's next report line (a JSON object), or None if none came within `timeout`."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            ready, _, _ = select.select([self._report], [], [], max(0.0, deadline - time.monotonic()))
            data = os.read(self._report, 65536) if ready else b""
            if not data:
                return None
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        data: dict[str, Any] = json.loads(line)
        return data

    def report(self, timeout: float = 120.0) -> dict[str, Any]:
        """The child's next report line; the child is killed if none comes within `timeout`."""
        found = self.poll(timeout)
        if found is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self._drainer.join(timeout=2)
            shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.tail.decode(errors="replace"))[-3000:]
            raise RuntimeError(f"the dashboard process did not report; its terminal ended with:\n{shown}")
        return found

    def wait(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        os.close(self._report)
        self._drainer.join(timeout=2)
        os.close(self.master)
        return code


def report_to_parent(**data: Any) -> None:
    """Child side: one JSON line on the report pipe."""
    fd = int(os.environ["JOBTUI_BENCH_REPORT_FD"])
    os.write(fd, (json.dumps(data) + "\n").encode())
