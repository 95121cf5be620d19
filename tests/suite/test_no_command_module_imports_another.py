"""A command module never imports another command module: what commands share (options' help,
sign-in, the terminal's view of a batch) lives in a module that defines no command, so following
one command never leads into another's code."""

from __future__ import annotations

import ast
from pathlib import Path

COMMANDS = Path(__file__).resolve().parents[2] / "safeguard" / "commands"


def _defines_a_command(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                f = d.func if isinstance(d, ast.Call) else d
                if isinstance(f, ast.Attribute) and f.attr in ("command", "group"):
                    return True
    return False


def _imported_modules(tree: ast.Module) -> set[str]:
    """Every module of safeguard.commands imported anywhere in the file (in functions too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n.split(".")[2] for n in names
                  if n.startswith("safeguard.commands.") and len(n.split(".")) > 2}
    return found


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(COMMANDS.glob("*.py"))}


def test_no_command_module_imports_another_command_module():
    modules = _modules()
    commands = {name for name, tree in modules.items() if _defines_a_command(tree)}
    assert {"scan", "demo", "review", "watch", "pupils"} <= commands  # the walk sees them
    offenders = {name: sorted(_imported_modules(tree) & commands - {name})
                 for name, tree in modules.items() if name in commands}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, ("command modules importing other command modules (move what they "
                           f"share into a module without commands): {offenders}")
