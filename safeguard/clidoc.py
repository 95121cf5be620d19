"""The command-line reference (docs/cli.md), written from click's own command tree.

A reference typed by hand drifts from the code the first time someone adds an option; one made
from the commands themselves cannot, and a test (tests/docs/) fails when docs/cli.md is not
what this module makes from the code as it is. Every command is reached the way `safeguard`
reaches it (LazyGroup.get_command), so a command whose module does not import fails here too.

    python -m safeguard.clidoc > docs/cli.md

Help is written as click shows it in `--help`, made into Markdown: paragraphs as paragraphs, a
paragraph click keeps as typed (one that starts with a line holding only \\b, such as a table of
exit codes) as a code block, each option as `--help` lists it. Nothing depends on the terminal or
the environment (no terminal width, no values read from environment variables).
"""

from __future__ import annotations

import re

import click

REGENERATE = "python -m safeguard.clidoc > docs/cli.md"


def _prose(text: str) -> str:
    """Help text as Markdown shows it: outside `code spans`, characters Markdown would take as
    markup (a tag in "DIR/<pupil_id>.jpg", emphasis in "*.jpg") are escaped."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(p if p.startswith("`") else re.sub(r"(<(?=[A-Za-z/!?])|\*)", r"\\\1", p)
                   for p in parts)


def _paragraphs(text: str) -> list[str]:
    """Click's help text as Markdown blocks."""
    text = text.split("\f")[0]  # click shows nothing after a form feed
    out = []
    for para in re.split(r"\n\s*\n", text.strip()) if text.strip() else []:
        lines = para.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append("```text\n" + "\n".join(lines[1:]) + "\n```")
        else:
            out.append(_prose(para))
    return out


def _slug(title: str) -> str:
    """The anchor GitHub and most Markdown renderers give a heading."""
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def _walk(cmd: click.Command, ctx: click.Context):
    """(context, command) for `cmd` and every command below it, in the order `--help` lists them."""
    yield ctx, cmd
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, click.Context(sub, info_name=name, parent=ctx))


def _section(ctx: click.Context, cmd: click.Command) -> list[str]:
    path = ctx.command_path
    depth = path.count(" ")
    out = [f"{'#' * min(depth + 2, 4)} {path}", ""]
    usage = " ".join([path, *cmd.collect_usage_pieces(ctx)])
    out += ["```text", f"Usage: {usage}", "```", ""]
    for block in _paragraphs(cmd.help or ""):
        out += [block, ""]
    args = [p for p in cmd.get_params(ctx) if isinstance(p, click.Argument)]
    if args:
        out += ["Arguments:", ""]
        for a in args:
            need = "required" if a.required else "optional"
            many = ", any number" if a.nargs == -1 else ""
            out.append(f"- `{a.make_metavar(ctx)}` ({need}{many})")
        out.append("")
    shown = [p for p in cmd.get_params(ctx) if p is not cmd.get_help_option(ctx)]
    opts = [r for p in shown if isinstance(p, click.Option)
            for r in [p.get_help_record(ctx)] if r is not None]
    if opts:
        out += ["Options:", ""]
        for names, help_ in opts:
            out.append(f"- `{names}`" + (f": {_prose(help_)}" if help_.strip() else ""))
        out.append("")
    if isinstance(cmd, click.Group):
        subs = [(n, cmd.get_command(ctx, n)) for n in cmd.list_commands(ctx)]
        subs = [(n, c) for n, c in subs if c is not None and not c.hidden]
        if subs:
            out += ["Commands:", ""]
            for name, sub in subs:
                title = f"{path} {name}"
                short = sub.get_short_help_str(limit=1000)
                out.append(f"- [`{name}`](#{_slug(title)})" + (f": {_prose(short)}" if short else ""))
            out.append("")
    for block in _paragraphs(cmd.epilog or ""):
        out += [block, ""]
    return out


def _exit_codes() -> list[str]:
    """Every exit code with its one meaning, from the enum itself (safeguard.exitcodes)."""
    from safeguard.exitcodes import ExitStatus

    out = ["## Exit codes", "",
           "Each code means one thing, whichever command ends with it (`safeguard.exitcodes`):",
           "", "| code | name | meaning |", "|---|---|---|"]
    out += [f"| {s.value} | `{s.name}` | {_prose(s.meaning)} |" for s in ExitStatus]
    return out + [""]


def reference() -> str:
    """docs/cli.md: every command's usage, help, arguments and options, as Markdown."""
    from safeguard.cli import cli

    root = click.Context(cli, info_name="safeguard")
    out = [
        "# Command-line reference",
        "",
        "<!-- Made from the click commands by `" + REGENERATE + "`; do not edit by hand "
        "(a test fails when this file differs from what the code makes). -->",
        "",
        ("Every command, as `safeguard COMMAND --help` shows it (each takes `--help`). Options "
         "of `safeguard` itself (`--home`, `--as`) come before the command: "
         "`safeguard --home DIR pupils list`."),
        "",
    ]
    out += _exit_codes()
    for ctx, cmd in _walk(cli, root):
        out += _section(ctx, cmd)
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    print(reference(), end="")
