"""The key bar at the bottom: Textual's Footer drawn as one line of text.

Textual's Footer is a container of one widget per key, rebuilt (every key restyled) each time the screen's
bindings change: about 30 widgets at start-up, and again whenever the selected job allows other keys.
This bar draws the same keys, in the same colours and places, as a single widget that only repaints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget

from jobtui.i18n import DEFAULT_LANG, t

# The app's own keys (Textual's bindings, declared once in English): their words in the footer's language.
APP_KEY_TEXTS = {"quit": "palette.quit"}


@dataclass(frozen=True)
class _Spot:
    start: int
    end: int
    key: str
    enabled: bool


class KeyBar(Widget, can_focus=False):
    """Keys of the screen's active bindings (those with `show`), and the command palette's on the right."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keybar--item",
        "keybar--key",
        "keybar--description",
        "keybar--palette-edge",
    }

    def __init__(self, order: list[str] | None = None, **kwargs: object) -> None:
        """`order`: binding ids in the order the bar shows them (others follow, as Textual lists them):
        a key remapped in keys.toml keeps its place instead of moving to the end, off the bar."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._spots: list[_Spot] = []
        self._rank = {binding_id: index for index, binding_id in enumerate(order or [])}

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: object) -> None:
        self.refresh()

    def render(self) -> Text:
        width = self.size.width
        # As a FooterKey draws itself: its part styles over the key's own background.
        background = self.styles.background + self.get_component_styles("keybar--item").background
        item = self.rich_style + Style(bgcolor=background.rich_color)
        key_style = item + self.get_component_rich_style("keybar--key")
        description_style = item + self.get_component_rich_style("keybar--description")
        dim = Style(dim=True)
        active = self.screen.active_bindings
        palette = Text(no_wrap=True, overflow="crop")
        palette_binding = (
            active.get(self.app.COMMAND_PALETTE_BINDING) if self.app.ENABLE_COMMAND_PALETTE else None
        )
        if palette_binding is not None:
            _node, binding, enabled, _tooltip = palette_binding
            extra = Style() if enabled else dim
            edge = background + self.get_component_styles("keybar--palette-edge").color
            palette.append("▏", item + Style(color=edge.rich_color))
            palette.append(self.app.get_key_display(binding), key_style + extra)
            palette.append(f" {t('keybar.palette', self.app_lang)}", description_style + extra)
            palette.append(" ", item)
        room = max(0, width - palette.cell_len)
        seen: set[str] = set()
        keys = Text(no_wrap=True, overflow="crop")
        spots: list[_Spot] = []
        shown = sorted(
            active.values(), key=lambda item: self._rank.get(item.binding.id or "", len(self._rank))
        )
        items: list[tuple[Text, str, bool]] = []
        for _node, binding, enabled, _tooltip in shown:
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            extra = Style() if enabled else dim
            key = Text()
            key.append(f" {self.app.get_key_display(binding)} ", key_style + extra)
            description = (
                t(APP_KEY_TEXTS[binding.id], self.app_lang)
                if binding.id in APP_KEY_TEXTS
                else binding.description
            )
            if description:
                key.append(f"{description} ", description_style + extra)
            items.append((key, binding.key, enabled))
        # Too narrow for every key: dimmed keys give their room to the keys that would act, the last dimmed
        # one first, the others keeping their places (at 120 columns the bar ended in the dimmed keys of
        # the job under the cursor, and "Resume queue" of a paused queue never showed).
        width_of = sum(key.cell_len for key, _, _ in items)
        for index in reversed(range(len(items))):
            if width_of <= room:
                break
            key, _, enabled = items[index]
            if not enabled and any(later[2] for later in items[index + 1 :]):
                width_of -= key.cell_len
                del items[index]
        for key, pressed, enabled in items:
            # A key with half its word reads as another word ("! At"): the bar ends at the last whole one.
            if keys.cell_len + key.cell_len > room:
                break
            spots.append(_Spot(keys.cell_len, keys.cell_len + key.cell_len, pressed, enabled))
            keys.append_text(key)
        keys.pad_right(room - keys.cell_len)
        self._spots = spots
        if palette_binding is not None:
            self._spots.append(_Spot(room, width, palette_binding.binding.key, palette_binding.enabled))
        keys.append_text(palette)
        return keys

    @property
    def app_lang(self) -> str:
        return str(getattr(self.app, "lang", DEFAULT_LANG))

    def on_click(self, event: events.Click) -> None:
        for spot in self._spots:
            if spot.start <= event.x < spot.end:
                if spot.enabled:
                    self.app.simulate_key(spot.key)
                else:
                    self.app.bell()
                return
