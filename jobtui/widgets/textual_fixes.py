"""Work-arounds for Textual bugs that a dashboard left open for days would feel, each naming its issue.

Applied once, when the app module is imported; each checks that the bug is still there, so a Textual
that fixes it is left alone.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from textual._styles_cache import StylesCache
from textual.color import Color
from textual.style import Style


def keep_no_styles_cache_alive() -> None:
    """Textual issue #6665: `StylesCache.get_inner_outer` is an `lru_cache`d method, so its 1,024 entries
    keep the widgets' caches alive, with every line they rendered, long after the widgets are gone: each
    dialog opened and closed adds to the memory held and to what every full collection walks (in the
    tests, full passes of 0.3-0.5 s over half a million objects). The same colours, cached without the
    instance."""
    cached = StylesCache.__dict__.get("get_inner_outer")
    original = getattr(cached, "__wrapped__", None)
    # The bug's shape: an lru_cache'd plain function taking the instance. A static or class method (a
    # likely upstream fix) must be left as it is: called as below it would fail on every render.
    if original is None or not hasattr(cached, "cache_info"):
        return
    if list(inspect.signature(original).parameters)[:1] not in (["self"], ["cls"]):
        return

    @lru_cache(1024)
    def inner_outer(base_background: Color, background: Color) -> tuple[Style, Style]:
        result: tuple[Style, Style] = original(None, base_background, background)
        return result

    def get_inner_outer(_cache: Any, base_background: Color, background: Color) -> tuple[Style, Style]:
        return inner_outer(base_background, background)

    StylesCache.get_inner_outer = get_inner_outer  # type: ignore[method-assign,assignment]
