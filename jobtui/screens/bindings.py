"""Textual bindings, help rows and palette entries, generated from the registry of operator commands."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType

from jobtui.engine.service.commands import COMMANDS, Command


def command_bindings() -> list[BindingType]:
    """One binding per command, its id the command's (keys.toml remaps by it). Keys that open an input are
    priority bindings: see the monitor's INPUT_KEYS."""
    bindings: list[BindingType] = [
        Binding(
            command.key,
            command.action_name,
            command.label["en"],
            show=command.footer,
            id=command.id,
            priority=command.opens_input,
        )
        for command in COMMANDS
    ]
    bindings.append(Binding("escape", "clear_filter", "Clear filter", show=False))
    return bindings


@dataclass(frozen=True)
class HelpRow:
    keys: str  # as the operator types them, after remapping: "?", "A", "^p"
    description: str


def footer_order() -> list[str]:
    """The footer keeps the registry's order, whatever keys.toml remapped (a remapped binding is re-added
    at the end of Textual's map, and would be pushed off the bar's end)."""
    return [command.id for command in COMMANDS]


def command_of(binding_id: str | None) -> Command | None:
    from jobtui.engine.service.commands import BY_ID

    return BY_ID.get(binding_id or "")
