"""Status colours: every one reaches 4.5:1 contrast (WCAG AA) on what it is drawn on, in the default dark
theme and in the light one, computed from the theme's own colours; statuses that wait for a person are
filled chips, final ones never are; the table repaints with the palette of a theme picked live."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.color import Color

from jobtui.engine.db.store import Store
from jobtui.engine.domain.states import FINAL_STATUSES, NEEDS_ATTENTION, Status
from jobtui.engine.service.actions import Actions
from jobtui.widgets.job_table import JobTable
from jobtui.widgets.status_style import STYLES, palette
from jobtui.widgets.statusbar import StatusBar
from tests.support.pilot import app_for, monitor, open_envelopes, simple, submit_envelope, until

AA = 4.5


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A theme picked here is kept in a config file of this test's own, not the next test's."""
    monkeypatch.setenv("JOBTUI_CONFIG", str(tmp_path / "config.toml"))
    yield


def luminance(color: Color) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = color.get_truecolor()
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(one: Color, other: Color) -> float:
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_every_status_colour_reaches_4_5_to_1_on_its_background(store: Store, theme: str) -> None:
    async with app_for(store).run_test(size=(120, 30)) as pilot:
        pilot.app.theme = theme
        await pilot.pause()
        assert palette().dark == pilot.app.current_theme.dark
        grounds = {
            name: Color.parse(pilot.app.theme_variables[name]) for name in ("background", "surface", "panel")
        }
        grounds["the header's tray"] = Color.parse(palette().tray)
        too_faint = []
        for status in Status:
            style = STYLES[status]
            assert style.color is not None and not style.dim and not style.reverse, status
            if style.bgcolor is not None:  # a chip: its text on its own fill, wherever it is drawn
                ratio = contrast(style.color, style.bgcolor)
                if ratio < AA:
                    too_faint.append(f"{status} chip: {ratio:.2f}")
                continue
            for name, ground in grounds.items():
                ratio = contrast(style.color, ground)
                if ratio < AA:
                    too_faint.append(f"{status} on {name}: {ratio:.2f}")
        assert not too_faint, too_faint


def test_statuses_that_wait_for_a_person_are_chips_and_final_ones_are_not() -> None:
    for status in NEEDS_ATTENTION - FINAL_STATUSES:
        assert STYLES[status].bgcolor is not None, status
    for status in FINAL_STATUSES - NEEDS_ATTENTION:
        assert STYLES[status].bgcolor is None, status
    # Each chip its own fill: an abend never reads as an error.
    fills = [STYLES[status].bgcolor for status in NEEDS_ATTENTION]
    assert len(set(fills)) == len(fills)


async def test_a_theme_picked_live_repaints_the_table_and_header_in_its_palette(
    store: Store, submit: Callable[..., int]
) -> None:
    submit(simple("ready-job"))
    async with app_for(store).run_test(size=(160, 30)) as pilot:
        screen = monitor(pilot)
        table = screen.query_one(JobTable)
        await until(pilot, lambda: table.total == 1, "the job")

        def colours_drawn() -> set[str]:
            strip = table.render_line(1)  # the first row (under the header)
            return {
                segment.style.color.get_truecolor().hex.upper()
                for segment in strip
                if segment.style is not None and segment.style.color is not None and "Ready" in segment.text
            }

        await until(pilot, lambda: "#E0E0E0" in colours_drawn(), "the dark palette's Ready")
        pilot.app.theme = "textual-light"
        await until(pilot, lambda: "#1A1A1A" in colours_drawn(), "the light palette's Ready")
        bar = screen.query_one(StatusBar)

        def grounds_drawn() -> set[tuple[int, int, int]]:
            spans = bar.render().spans  # type: ignore[union-attr]
            return {span.style.background.rgb for span in spans if getattr(span.style, "background", None)}

        await until(pilot, lambda: (224, 224, 224) in grounds_drawn(), "the counts on the light tray")


async def test_the_envelope_tree_takes_the_new_palette_at_once(
    store: Store, actions: Actions, tmp_path: Path
) -> None:
    submit_envelope(actions, tmp_path, "release-9", {"build": "true"})
    async with app_for(store).run_test(size=(140, 30)) as pilot:
        tree = await open_envelopes(pilot)
        await pilot.press("space")  # its job's line, with the job's status

        def ready_colours() -> set[str]:
            colours = set()
            for line in range(tree.last_line + 1):
                node = tree.get_node_at_line(line)
                label = node.label if node is not None else None
                for span in getattr(label, "spans", []):
                    style = span.style
                    if not isinstance(style, str) and style.color is not None:
                        colours.add(style.color.get_truecolor().hex.upper())
            return colours

        await until(pilot, lambda: "#E0E0E0" in ready_colours(), "the dark palette's Ready in the tree")
        pilot.app.theme = "textual-light"
        await until(pilot, lambda: "#1A1A1A" in ready_colours(), "the light palette's Ready in the tree")
