"""docs/cli.md is what safeguard.clidoc makes from the click commands as they are, so the
reference cannot drift from the code: add or change a command or an option and this fails until
the reference is made again."""

from __future__ import annotations

import difflib
from pathlib import Path

from safeguard import clidoc

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_docs_cli_md_is_what_the_commands_make():
    made = clidoc.reference()
    kept = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if kept != made:
        diff = "".join(list(difflib.unified_diff(
            kept.splitlines(keepends=True), made.splitlines(keepends=True),
            "docs/cli.md", "made from the commands"))[:60])
        raise AssertionError(
            "docs/cli.md differs from the commands; make it again with\n"
            f"    .venv/bin/{clidoc.REGENERATE}\n{diff}")


def test_every_command_has_its_section():
    """Each command and subcommand `safeguard --help` lists has a heading, down the whole tree."""
    import click

    from safeguard.cli import cli

    made = clidoc.reference()
    root = click.Context(cli, info_name="safeguard")
    paths = [ctx.command_path for ctx, _ in clidoc._walk(cli, root)]
    assert len(paths) > len(cli.list_commands(root))  # the groups' subcommands are there too
    for path in paths:
        assert f"# {path}\n" in made, path
