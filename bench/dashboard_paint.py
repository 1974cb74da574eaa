"""Dashboard benchmark: first paint, memory and held keys of the real `jobtui` over a database of N jobs.

    python bench/dashboard_paint.py --jobs N [--db URL] [--presses 200] [--pages 20] [--runs 3] [--engine]

Fills a throwaway SQLite database with N historical jobs (unless --db is given), then starts the real
command (`jobtui --db URL`, Textual's Linux driver on a pseudo-terminal of 160x48) in a fresh process,
--runs times. Every time counts from the moment the process is spawned:

- first_paint: spawn → the first frame with the job table's rows written to the terminal (for an empty
  database: the first frame showing its data, an empty table). Interpreter start, imports, opening the
  database and Textual's own start-up are all inside it;
- textual_floor: the same for a Textual app showing one label, nothing else: what no dashboard can beat;
- down_presses: 200 `down` keys written at once, as fast as a held key could send them, until the 200th
  row is drawn highlighted with its data (down_settled: and the detail pane shows that job);
- pagedown_presses: then --pages `page down` keys the same way;
- rss: resident memory after the keys, and its peak over the run.

The embedded engine is off (as when a daemon serves the database) unless --engine. The figures are the
median of the runs. The last line is `first_paint_s=<float> rss_mb=<float>` (rss_mb: the peak).
"""

from __future__ import annotations

import time

SPAWNED = time.perf_counter()  # the child's own start, for the breakdown (before any import)

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboard_terminal import KEYS, Child, child_env, report_to_parent, warm_bytecode  # noqa: E402

SIZE = (160, 48)
MEMORY = ("VmRSS", "VmHWM")


def run_child(presses: int, pages: int, engine: bool) -> None:
    """In the spawned process: the real CLI, with an app that reports when things reach the terminal."""
    report_to_parent(event="started", at=SPAWNED)
    profile_to = os.environ.get("JOBTUI_BENCH_PROFILE")
    profiler = None
    if profile_to:  # cProfile of the UI thread from opening the database to the first paint
        import cProfile

        profiler = cProfile.Profile()
    import jobtui.app
    from jobtui.engine.db.driver import Reader

    connect = Reader._connect

    def timed_connect(self: Reader) -> Any:
        # The monitor's first database connection: the plain reader that lists the first rows.
        Reader._connect = connect  # type: ignore[method-assign]
        report_to_parent(event="db_open", at=time.perf_counter(), cpu=time.process_time())
        if profiler is not None:
            profiler.enable()
        return connect(self)

    Reader._connect = timed_connect  # type: ignore[method-assign]

    from jobtui.screens.monitor import MonitorScreen

    first_painted = MonitorScreen._first_painted
    painted_with_sqlalchemy: list[bool] = []

    def noted_first_painted(self: MonitorScreen) -> None:
        painted_with_sqlalchemy.append("sqlalchemy" in sys.modules)
        first_painted(self)

    MonitorScreen._first_painted = noted_first_painted  # type: ignore[method-assign]

    class BenchApp(jobtui.app.JobtuiApp):
        """The real app; a timer watches what is on screen and reports it."""

        CSS_PATH = str(Path(jobtui.app.__file__).with_name("styles") / "app.tcss")

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["embedded"] = engine
            super().__init__(*args, **kwargs)
            report_to_parent(event="app", at=time.perf_counter())
            self._phase = "paint"
            self._target = 0
            self._stamped: set[str] = set()
            self._state_at = 0.0

        def on_mount(self) -> None:
            self.set_interval(0.002, self._watch)

        def _stamp(self, name: str, **extra: Any) -> None:
            if name in self._stamped:
                return
            self._stamped.add(name)
            # After the next refresh: the frame that shows it has been written to the terminal.
            self.call_after_refresh(lambda: self._reached(name, extra))

        def _reached(self, name: str, extra: dict[str, Any]) -> None:
            report_to_parent(event=name, at=time.perf_counter(), **extra)

        def _watch(self) -> None:
            from jobtui.screens.monitor import MonitorScreen
            from jobtui.widgets.detail import DetailPane
            from jobtui.widgets.job_table import JobTable

            stack = self.screen_stack
            screen = stack[1] if len(stack) > 1 and isinstance(stack[1], MonitorScreen) else None
            if screen is None:
                return
            table = screen.query_one(JobTable)
            now = time.perf_counter()
            if now - self._state_at > 1.0:  # where things stand, for the parent's error message
                self._state_at = now
                pane = screen.query_one(DetailPane)
                report_to_parent(
                    event="state",
                    at=now,
                    phase=self._phase,
                    cursor=table.cursor,
                    target=self._target,
                    total=table.total,
                    row=getattr(table.row_at(table.cursor), "id", None),
                    detail=pane.detail.job["id"] if pane.detail is not None else None,
                    reached=sorted(self._stamped),
                )
            if self._phase == "paint":
                if screen.first_paint_at is not None:
                    if profiler is not None:
                        profiler.disable()
                        profiler.dump_stats(profile_to)
                    self._phase = "downs"
                    self._target = min(presses, max(0, table.total - 1))
                    report_to_parent(
                        event="painted",
                        at=screen.first_paint_at,
                        cpu=time.process_time(),
                        total=table.total,
                        rows=table.rows_visible,
                        # Whether the rows came before SQLAlchemy was even imported (the plain reader).
                        sqlalchemy=painted_with_sqlalchemy[:1] == [True],
                    )
                    if table.total == 0:  # no rows to move over
                        self._phase = "end"
                        self.call_after_refresh(self._finish)
                return
            if self._phase not in ("downs", "pages"):
                return
            row = table.row_at(self._target)
            if table.cursor == self._target and (row is not None or table.total == 0):
                self._stamp(f"{self._phase}_drawn")
                pane = screen.query_one(DetailPane)
                shown = pane.detail.job["id"] if pane.detail is not None else None
                if row is None or shown == row.id:
                    self._stamp(f"{self._phase}_settled")
            if {f"{self._phase}_drawn", f"{self._phase}_settled"} <= self._stamped:
                if self._phase == "downs":
                    self._phase = "pages"
                    self._target = min(self._target + pages * table.rows_visible, max(0, table.total - 1))
                else:
                    self._phase = "end"
                    self.call_after_refresh(self._finish)

        def _finish(self) -> None:
            # Resident memory now and its high-water mark over the whole run, as the kernel counts them.
            with open("/proc/self/status") as fh:
                kib = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in fh) if k in MEMORY}
            report_to_parent(
                event="end",
                at=time.perf_counter(),
                rss_mb=kib["VmRSS"] * 1024 / 1e6,
                rss_peak_mb=kib["VmHWM"] * 1024 / 1e6,
            )
            self.exit(0)

    jobtui.app.JobtuiApp = BenchApp  # type: ignore[misc]
    from jobtui.cli import main

    raise SystemExit(main(["--db", os.environ["JOBTUI_BENCH_DB"]]))


def run_floor() -> None:
    """In the spawned process: a Textual app with one label, to time Textual's own start-up."""
    report_to_parent(event="started", at=SPAWNED)
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Floor(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("hello")

        def on_mount(self) -> None:
            self.call_after_refresh(self._painted)

        def _painted(self) -> None:
            report_to_parent(event="painted", at=time.perf_counter())
            self.exit()

    report_to_parent(event="app", at=time.perf_counter())
    Floor().run()


def measure_floor() -> tuple[float, float]:
    """(spawn → first frame, app start → first frame) of the one-label app."""
    child = Child([sys.executable, __file__, "--floor-child"], SIZE, child_env())
    started = 0.0
    while (report := child.report())["event"] != "painted":
        started = float(report["at"])
    child.wait()
    painted = float(report["at"])
    return painted - child.spawned_at, painted - started


def measure(db: str, presses: int, pages: int, engine: bool) -> dict[str, float]:
    argv = [sys.executable, __file__, "--child", "--presses", str(presses), "--pages", str(pages)]
    if engine:
        argv.append("--engine")
    child = Child(argv, SIZE, child_env({"JOBTUI_BENCH_DB": db}))
    figures: dict[str, float] = {}
    sent: dict[str, float] = {}
    state: dict[str, Any] = {}
    db_open = db_open_cpu = 0.0
    give_up = time.perf_counter() + 120
    while True:
        try:
            if time.perf_counter() > give_up:
                raise RuntimeError("the dashboard did not finish in 120 s")
            report = child.report(timeout=30)
        except RuntimeError as exc:
            child.proc.kill()
            raise RuntimeError(f"{exc}\nthe last state it reported: {state}") from None
        event, at = report["event"], float(report["at"])
        if event == "state":
            state = report
        elif event == "started":
            figures["interpreter_s"] = at - child.spawned_at
        elif event == "db_open":
            db_open, db_open_cpu = at, float(report["cpu"])
            figures["startup_s"] = at - child.spawned_at
        elif event == "painted":
            figures["process_paint_s"] = at - child.spawned_at
            figures["first_paint_s"] = at - db_open
            # CPU time of the whole process (every thread) over the same span: what load elsewhere on
            # the machine does not inflate. (Read a few ms after the paint, so slightly over.)
            figures["first_paint_cpu_s"] = float(report["cpu"]) - db_open_cpu
            figures["total"] = float(report["total"])
            figures["sqlalchemy_at_paint"] = float(bool(report.get("sqlalchemy")))
            if figures["total"]:
                # A held key: the terminal sends repeats without waiting for the screen.
                sent["downs"] = child.send(KEYS["down"] * presses)
        elif event == "downs_drawn":
            figures["down_presses_s"] = at - sent["downs"]
        elif event == "downs_settled":
            figures["down_settled_s"] = at - sent["downs"]
            sent["pages"] = child.send(KEYS["pagedown"] * pages)
        elif event == "pages_drawn":
            figures["pagedown_presses_s"] = at - sent["pages"]
        elif event == "pages_settled":
            figures["pagedown_settled_s"] = at - sent["pages"]
        elif event == "end":
            figures["rss_mb"] = float(report["rss_mb"])
            figures["rss_peak_mb"] = float(report["rss_peak_mb"])
            break
    code = child.wait()
    if code != 0:
        raise RuntimeError(f"the dashboard exited with {code}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--db")
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", action="store_true", help="start the embedded engine, as with no daemon")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.presses, args.pages, args.engine)
        return 0
    if args.floor_child:
        run_floor()
        return 0

    db = args.db
    if db is None:
        from engine_common import loaded_sqlite  # not in the child: its imports are timed

        db = loaded_sqlite(args.jobs, "paint")
    warm_bytecode()
    floors = [measure_floor() for _ in range(args.runs)]
    runs = [measure(db, args.presses, args.pages, args.engine) for _ in range(args.runs)]
    fig = {key: statistics.median(run[key] for run in runs) for key in runs[0] if all(key in r for r in runs)}
    best = min(run["first_paint_s"] for run in runs)
    params = f"jobs={int(fig['total'])} runs={args.runs} load={os.getloadavg()[0]:.2f}"
    floor_spawn = statistics.median(f[0] for f in floors)
    floor_app = statistics.median(f[1] for f in floors)
    print(
        f"textual_floor {floor_app:.3f} s, from spawn {floor_spawn:.3f} s (a Textual app showing one label)"
    )
    print(f"startup {fig['startup_s']:.3f} s {params} (spawn → database opened: interpreter and imports)")
    print(
        f"first_paint {fig['first_paint_s']:.3f} s {params} best={best:.3f} "
        "(database opened → first rows written to the terminal)"
    )
    print(
        f"first_paint_cpu {fig['first_paint_cpu_s']:.3f} s {params} (CPU time of the process over that span)"
    )
    before = "after" if fig["sqlalchemy_at_paint"] else "before"
    print(
        f"process_first_paint {fig['process_paint_s']:.3f} s {params} "
        f"(spawn → first rows on the terminal; painted {before} SQLAlchemy was imported)"
    )
    print(f"rss {fig['rss_mb']:.1f} MB peak {fig['rss_peak_mb']:.1f} MB {params}")
    for name, count in (("down", args.presses), ("pagedown", args.pages)):
        if f"{name}_presses_s" not in fig:
            print(f"{name}_presses n/a {params} (no rows to move over)")
            continue
        print(
            f"{name}_presses {fig[f'{name}_presses_s']:.3f} s {params} presses={count} "
            f"(keys written → last row drawn; detail pane following: {fig[f'{name}_settled_s']:.3f} s)"
        )
    print(
        f"first_paint_s={fig['first_paint_s']:.3f} process_first_paint_s={fig['process_paint_s']:.3f} "
        f"rss_mb={fig['rss_peak_mb']:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
