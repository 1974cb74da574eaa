"""Dashboard idle benchmark: CPU used by a real `jobtui` with nothing changing.

    python bench/dashboard_idle.py [--jobs 30] [--seconds 10] [--settle 3]

Makes a throwaway SQLite database with --jobs jobs run to FINISHED by a real engine, starts the real
command (`jobtui --db URL`, which embeds an engine since no daemon serves the database) in a tmux session
of 170x45, waits for the jobs on screen and --settle seconds more, then reads the process's CPU time
(utime + stime of /proc/PID/stat: every thread of it, the embedded engine's included) at the start and
the end of --seconds. Ends with `idle_cpu_pct=<float>` (percent of one core).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboard_terminal import child_env, warm_bytecode  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


def thread_seconds(pid: int) -> dict[int, float]:
    found: dict[int, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(tid)] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


def make_database(url: str, jobs: int) -> None:
    from jobtui.engine.db.models import Job
    from jobtui.engine.db.store import Store
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.formats.definition_file import parse_definition
    from jobtui.engine.service.actions import Actions
    from jobtui.engine.worker.loop import Engine

    store = Store(url)
    actions = Actions(store, Actor("bench"))
    text = 'name = "idle-{n}"\nproject = "bench"\n[[run]]\nrun = "echo done {n}"\n'
    ids = [
        actions.submit(parse_definition(text.format(n=n), f"idle-{n}.toml"), keep=True) for n in range(jobs)
    ]
    engine = Engine(store)

    def finished() -> bool:
        with store.read() as s:
            return all((job := s.get(Job, job_id)) is not None and job.status == "FINISHED" for job_id in ids)

    engine.run_until(finished, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--settle", type=float, default=3)
    parser.add_argument("--threads", action="store_true", help="also print the CPU time of each thread")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 1
    import psutil

    work = Path(tempfile.mkdtemp(prefix="jobtui-bench-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    url = f"sqlite:///{work / 'idle.db'}"
    make_database(url, args.jobs)
    warm_bytecode()
    socket = str(work / "tmux.sock")
    env = child_env()
    command = f"{sys.executable} -m jobtui.cli --db {url}"
    subprocess.run(
        ["tmux", "-S", socket, "new-session", "-d", "-s", "idle", "-x", "170", "-y", "45", command],
        env=env,
        check=True,
    )
    try:

        def screen() -> str:
            return subprocess.run(
                ["tmux", "-S", socket, "capture-pane", "-p", "-t", "idle"], capture_output=True, text=True
            ).stdout

        deadline = time.monotonic() + 60
        while f"idle-{args.jobs - 1}" not in screen():
            if time.monotonic() > deadline:
                print(f"the jobs never showed; the screen:\n{screen()}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        pane = subprocess.run(
            ["tmux", "-S", socket, "list-panes", "-t", "idle", "-F", "#{pane_pid}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        shell = psutil.Process(int(pane))
        candidates = [shell, *shell.children(recursive=True)]
        app = next(p for p in candidates if "jobtui.cli" in " ".join(p.cmdline()))
        time.sleep(args.settle)
        threads_before = thread_seconds(app.pid)
        before, began = cpu_seconds(app.pid), time.monotonic()
        time.sleep(args.seconds)
        after, elapsed = cpu_seconds(app.pid), time.monotonic() - began
        threads_after = thread_seconds(app.pid)
        if not app.is_running():
            print(f"jobtui exited; the screen:\n{screen()}", file=sys.stderr)
            return 1
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)
    pct = (after - before) / elapsed * 100
    params = f"jobs={args.jobs} seconds={args.seconds:g} load={os.getloadavg()[0]:.2f}"
    if args.threads:
        for tid, spent in sorted(threads_after.items()):
            used = spent - threads_before.get(tid, 0.0)
            print(f"thread {tid} {used / elapsed * 100:.2f} % {params}")
    print(f"idle_cpu {pct:.2f} % of one core {params} (embedded engine, tmux, nothing changing)")
    print(f"idle_cpu_pct={pct:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
