"""Two of the interpreter's defaults that cost an engine's process its throughput, set when an engine
starts running (its daemon's process, or the dashboard's that embeds one).

- The switch interval: how long a thread holding the interpreter lock keeps it while another waits (5 ms).
  A slot whose op ended waits for the lock to start its next op while the engine's thread runs a pass; at
  5 ms the slot, its op starter and a core sat idle (alone, 2026-12-05 22:20: `true` 1,048–1,123 →
  1,176–1,319 jobs/s, no-op drains the same).
- The youngest generation's collection threshold (700 allocations): a pass makes dicts and tuples for
  every row it reads or writes, and most live until the pass ends, so the collector ran many times a pass
  to free nothing (alone, 22:45: no-op drains 3,008–3,336 → 3,334–3,566 jobs/s, `true` the same).

Both, alternated with neither (22:55, bench/engine_drain.py, 2 workers, SQLite): 10,000 no-op jobs
2,918–3,275 → 3,200–3,453 jobs/s, 4,000 `true` 1,270–1,403 → 1,352–1,415.
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_S = 0.001
YOUNGEST_THRESHOLD = 10_000


def tune() -> None:
    """Never undoes a choice made by the program around it: a shorter interval, a collector turned off
    (threshold 0) or a higher threshold stay."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    youngest, *older = gc.get_threshold()
    if 0 < youngest < YOUNGEST_THRESHOLD:
        gc.set_threshold(YOUNGEST_THRESHOLD, *older)
