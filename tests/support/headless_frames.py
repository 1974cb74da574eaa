"""A test's headless dashboard lays its frames out but does not render them.

Textual renders every frame of an app it runs headless and then drops it (`App._display` writes nothing
without a terminal): a quarter of the dashboard tests' time went into frames nobody sees. Layout still
happens on the same timer, so sizes, regions and scrolling are what they would be; what a test looks at is
rendered when it looks (`painted`, the snapshots, the tmux and browser tests), from the widgets alone and
not from earlier frames, so it is the same screen either way.
"""

from __future__ import annotations

from textual.screen import Screen

_compositor_refresh = Screen._compositor_refresh


def _compositor_refresh_unless_headless(self: Screen[object]) -> None:
    app = self.app
    if app.is_headless and not app.is_inline and self is app.screen:
        # What `render_update` would have consumed, for a frame `_display` would have dropped.
        self._compositor._dirty_regions.clear()
        self._dirty_widgets.clear()
        app._update_mouse_over(self)
        return
    _compositor_refresh(self)


def skip_headless_frames() -> None:
    Screen._compositor_refresh = _compositor_refresh_unless_headless  # type: ignore[method-assign]
