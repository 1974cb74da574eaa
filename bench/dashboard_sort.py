"""Dashboard sort and filter benchmark: what one refresh of the job table costs, for every sortable column
in both directions and for the `/` filter, over a database of N jobs.

    python bench/dashboard_sort.py [--jobs 1000000] [--db URL] [--runs 3] [--filter TEXT ...]

Fills a throwaway SQLite database with N historical jobs (unless --db is given), then times the reads the
monitor makes on each refresh (engine/listing.py, the same calls): the total for the header, the first
window (three screens, 144 rows), a window 80% of the way down (as after `end` and a few page ups), and
the position of a job in the middle (how the cursor stays on its job while rows move). The figures are
the best of --runs; the last line is `worst_sort_s=<float> worst_filter_s=<float>` (one whole refresh).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobtui.engine.db.driver import Reader  # noqa: E402
from jobtui.engine.read.listing import SORTABLE, JobFilter, JobListing, JobSort  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from engine_common import loaded_sqlite  # noqa: E402

WINDOW = 144


def best_of(runs: int, read: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        read()
        times.append(time.perf_counter() - began)
    return min(times)


def refresh(listing: JobListing, flt: JobFilter, order: JobSort, total: int, runs: int) -> dict[str, float]:
    """Each read of one refresh, timed on its own, and the job in the middle to position."""
    middle = listing.window(flt, order, total // 2, 1)
    middle_id = middle[0].id if middle else 0
    deep = max(0, int(total * 0.8) - WINDOW)
    return {
        "count": best_of(runs, lambda: listing.count(flt)),
        "top": best_of(runs, lambda: listing.window(flt, order, 0, WINDOW)),
        "deep": best_of(runs, lambda: listing.window(flt, order, deep, WINDOW)),
        "position": best_of(runs, lambda: listing.position_of(flt, order, middle_id)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--db")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--filter", nargs="*", default=["patch", "host-17", "4242"])
    args = parser.parse_args()
    db = args.db
    if db is None:
        db = loaded_sqlite(args.jobs, "sort")
    else:
        from jobtui.engine.db.store import Store

        Store(db)  # migrated to this code's schema, as the app would
    listing = JobListing(Reader(db))
    total = listing.count(JobFilter())
    worst_sort = worst_filter = 0.0
    print(
        f"jobs={total} (system jobs hidden), best of {args.runs}; count / top window / deep window / position"
    )
    for column in SORTABLE:
        for descending in (True, False):
            order = JobSort(column, descending)
            t = refresh(listing, JobFilter(), order, total, args.runs)
            whole = sum(t.values())
            worst_sort = max(worst_sort, whole)
            arrow = "desc" if descending else "asc"
            print(
                f"sort {column:<9} {arrow:<4} {t['count']:.3f} / {t['top']:.3f} / {t['deep']:.3f} / "
                f"{t['position']:.3f} s  refresh {whole:.3f} s"
            )
    for text in args.filter:
        flt = JobFilter(text=text)
        t = refresh(listing, flt, JobSort(), listing.count(flt), args.runs)
        whole = sum(t.values())
        worst_filter = max(worst_filter, whole)
        print(
            f"filter {text!r:<10} {t['count']:.3f} / {t['top']:.3f} / {t['deep']:.3f} / "
            f"{t['position']:.3f} s  refresh {whole:.3f} s"
        )
    print(f"worst_sort_s={worst_sort:.3f} worst_filter_s={worst_filter:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
