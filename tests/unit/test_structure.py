"""The package's shape: no import cycles, and every error a user can meet is a JobtuiError of a known kind."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import grimp

import jobtui
from jobtui.engine.errors import BadInput, JobtuiError, Refusal

# Raised and caught inside the engine only: a bug (TransitionError), a lease taken over (LeaseLost), an op
# whose starter died or could not start it (StarterLost, NotStarted: they become the op's outcome).
INTERNAL_ERRORS = {"TransitionError", "LeaseLost", "StarterLost", "NotStarted"}


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan); function-level imports count like any other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(grimp.build_graph("jobtui")) == []


def _modules() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(jobtui.__path__, "jobtui.")
        if ".migrations" not in info.name and not info.name.endswith("__main__")
    ]


def test_every_error_a_user_can_meet_is_a_refusal_or_bad_input_or_a_jobtui_error() -> None:
    strays = []
    for name in _modules():
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, Exception) or cls_name in INTERNAL_ERRORS:
                continue
            if not issubclass(cls, JobtuiError):
                strays.append(f"{name}.{cls_name}")
    assert strays == []


def test_the_two_kinds_are_distinct() -> None:
    from jobtui.engine.domain.permissions import PermissionRefused
    from jobtui.engine.formats.definition_file import DefinitionError
    from jobtui.engine.service.actions import Refused, UnknownJob

    assert issubclass(Refused, Refusal) and issubclass(PermissionRefused, Refusal)
    assert issubclass(DefinitionError, BadInput) and issubclass(UnknownJob, BadInput)
    assert not issubclass(Refused, BadInput) and not issubclass(DefinitionError, Refusal)
