"""The command palette (ctrl+p): Textual's own commands and the monitor's, from the command registry.

The monitor's commands that the job under the cursor (or the actor's rights) refuse now are listed too,
after all the others, dimmed, marked as not available and with the reason the engine gives: an operator
who looks for Approve learns why it may not run, rather than finding it missing. Choosing one says so in
a notification, as its dimmed key does, and runs nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits
from textual.content import Content
from textual.fuzzy import Matcher
from textual.system_commands import SystemCommandsProvider

from jobtui.engine.domain.text import visible
from jobtui.i18n import t


@dataclass(frozen=True)
class PaletteCommand:
    """One of the monitor's commands as the palette lists it."""

    title: str  # its label and the keys that run it now: "Approve (a)"
    help: str  # what it does
    run: Callable[[], Awaitable[object]]  # what choosing it does
    refusal: str | None = None  # why it may not run now; the engine's words, so data
    words: str = ""  # what else it is found by (the registry's `words`)


@runtime_checkable
class PaletteHost(Protocol):
    """A screen whose commands the palette lists (the monitor). `palette_listing` is what the open palette
    lists: read once as it opens (a refusal may take a database read), not again at each key typed."""

    lang: str
    palette_listing: list[PaletteCommand] | None

    def palette_commands(self) -> list[PaletteCommand]: ...


def listed_commands(host: PaletteHost) -> list[PaletteCommand]:
    """The host's commands as the open palette lists them (read now when no palette opened yet)."""
    return host.palette_listing if host.palette_listing is not None else host.palette_commands()


class PaletteCommands(SystemCommandsProvider):
    """Textual's system commands with the monitor's that may run (`App.get_system_commands`), then the
    monitor's that may not.

    The palette orders hits by score alone, and fuzzy scores have no upper bound: each is squeezed into
    [0, 1) keeping its order, and raised by 1 for a command that may run, so that every command that may
    run comes first whatever was typed.
    """

    async def startup(self) -> None:
        # The table holds still while the palette is open: what its commands are now, they stay.
        if isinstance(self.screen, PaletteHost):
            self.screen.palette_listing = self.screen.palette_commands()

    async def shutdown(self) -> None:
        if isinstance(self.screen, PaletteHost):
            self.screen.palette_listing = None

    def _refused(self) -> list[PaletteCommand]:
        screen = self.screen
        if not isinstance(screen, PaletteHost):
            return []
        refused = [command for command in listed_commands(screen) if command.refusal is not None]
        return sorted(refused, key=lambda command: command.title)

    def _refused_prompt(self, command: PaletteCommand, title: Content) -> Content:
        """The entry of a refused command: its title dimmed (as its key is in the footer) and marked, and
        the reason under it. The reason quotes data (job, project and user names): it is plain Content
        with its control characters shown, never markup."""
        assert command.refusal is not None
        lang = self.screen.lang if isinstance(self.screen, PaletteHost) else "en"
        return Content.assemble(
            title.stylize_before("dim"),
            (f"  · {t('palette.not_available', lang)}", "bold $text-warning"),
            "\n",
            (visible(command.refusal), "italic dim not bold"),
        )

    async def discover(self) -> Hits:
        async for hit in super().discover():  # those that may run, by title
            yield hit
        for command in self._refused():
            prompt = self._refused_prompt(command, Content(command.title))
            yield DiscoveryHit(prompt, command.run, command.title)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        screen = self.screen
        words = {c.title: c.words for c in listed_commands(screen)} if isinstance(screen, PaletteHost) else {}
        # Textual's own commands and the monitor's that may run, as SystemCommandsProvider lists them, each
        # monitor command found by its words too.
        for name, help_text, callback, *_ in self.app.get_system_commands(screen):
            if (score := _score(matcher, name, words.get(name, ""))) > 0:
                yield Hit(1 + _squeezed(score), matcher.highlight(name), callback, help=help_text)
        for command in self._refused():
            if (score := _score(matcher, command.title, command.words)) > 0:
                prompt = self._refused_prompt(command, matcher.highlight(command.title))
                yield Hit(_squeezed(score), prompt, command.run, command.title)


def _score(matcher: Matcher, title: str, words: str) -> float:
    """How well what was typed matches a command: fuzzily its title, as Textual matches; else, when each
    word typed begins a word of its title or of its `words` ("skip", "trap skip" for Trap), half the
    length typed: below any match of the title (a fuzzy score is at least the letters matched), so the
    commands named so come first."""
    if (score := matcher.match(title)) > 0:
        return score
    typed = matcher.query.casefold().split()
    known = f"{title} {words}".casefold().split()
    if words and typed and all(any(word.startswith(part) for word in known) for part in typed):
        return len(matcher.query.strip()) / 2
    return 0.0


def _squeezed(score: float) -> float:
    """A fuzzy score (0 up) into [0, 1), in the same order."""
    return score / (1 + score)
