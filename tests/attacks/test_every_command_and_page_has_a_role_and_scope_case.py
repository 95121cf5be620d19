"""Every way in has a role and scope case, so a command or page added later cannot forget them.

An insider found four commands that reached another academy's pupils because each command chose
for itself whether to scope the store. Now every command of the CLI and every route of the review
app has a case in safeguard/cases.py (the action its account must be allowed, and how academy
scope applies), a command signs in with its case's action or not at all, and commands and pages
reach the data only through the signed-in account's door (safeguard/door.py): none of them opens
the consent store itself."""

from __future__ import annotations

import ast
from pathlib import Path

import click
from support.helpers import new_home, run_cli_as

from safeguard.access import ALLOWED
from safeguard.cases import COMMANDS, ROUTES, SCOPES

ROOT = Path(__file__).resolve().parents[2] / "safeguard"


def _commands() -> list[str]:
    from safeguard.cli import cli

    found: list[str] = []

    def walk(cmd: click.Command, ctx: click.Context, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, f"{' '.join(path + [name])} is listed but does not load"
                walk(sub, click.Context(sub, parent=ctx, info_name=name), path + [name])
        else:
            found.append(" ".join(path))

    walk(cli, click.Context(cli, info_name="safeguard"), [])
    return found


def _routes(home) -> list[tuple[str, str]]:
    from safeguard.config import Config
    from safeguard.review.app import create_app

    app = create_app(home, Config(), allowed_hosts=["testserver"])
    return [(m, r.path) for r in app.routes for m in sorted(r.methods or ()) if m != "HEAD"]


def _well_formed(case) -> bool:
    return case.scope in SCOPES and (case.action is None or case.action in ALLOWED)


def test_every_command_has_a_case():
    commands = _commands()
    assert len(commands) > 40
    missing = [c for c in commands if c not in COMMANDS]
    assert not missing, f"commands with no role and scope case in safeguard/cases.py: {missing}"
    assert all(_well_formed(COMMANDS[c]) for c in commands)


def test_every_route_of_the_review_app_has_a_case(tmp_path):
    routes = _routes(new_home(tmp_path / "home"))
    assert len(routes) > 10
    missing = [r for r in routes if r not in ROUTES]
    assert not missing, f"routes with no role and scope case in safeguard/cases.py: {missing}"
    assert all(_well_formed(ROUTES[r]) for r in routes)


def test_a_command_without_a_case_cannot_sign_in(tmp_path):
    from safeguard.cli import cli
    from safeguard.commands.signin import signed_in

    @click.command("peek")
    @click.pass_obj
    def peek(app):
        door, _ = signed_in(app, "pupils.read")
        click.echo(repr(door.pupils()))

    home = new_home(tmp_path / "home")
    cli.add_command(peek)
    try:
        r = run_cli_as("test-dsl", "--home", home.root, "peek")
    finally:
        cli.commands.pop("peek")
    assert r.exit_code == 1 and "has no access case" in r.output, r.output


def test_each_page_refuses_a_session_its_case_does_not_allow(tmp_path):
    """Without a session nothing but the public pages answers; a senior leader (slt) signed in
    gets nothing a DSL-only page holds."""
    from support.review_support import PASSWORD, client, sign_in

    from safeguard.access import may

    home = new_home(tmp_path / "home")
    from support.helpers import open_store

    open_store(home).add_staff("slt.head", "slt", PASSWORD, actor="test")
    concrete = {"{held_id}": "20250101-0123456789ab", "{action}": "release", "{kind}": "thumb",
                "{item_id}": "20250101-0123456789ab", "{post_id}": "20250101-0123456789ab",
                "{n:int}": "0"}

    def url(path: str) -> str:
        for k, v in concrete.items():
            path = path.replace(k, v)
        return path

    for user in (None, "slt.head"):
        with client(home) as c:
            if user:
                assert sign_in(c, user, PASSWORD).status_code == 303
            for (method, path), case in ROUTES.items():
                if case.action is None or (user and may("slt", case.action)):
                    continue
                r = c.request(method, url(path), data={"csrf": "x"})
                assert r.status_code in (303, 401, 403, 404), (user, method, path, r.status_code)
                assert r.status_code != 303 or r.headers["location"] in ("/login", "/approvals")


def _imports_the_store(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("consent_db", "consent_db.store"):
            found += [a.name for a in node.names if a.name == "ConsentStore"]
        if isinstance(node, ast.Name | ast.Attribute) and \
                getattr(node, "id", getattr(node, "attr", None)) in ("ConsentStore", "open_store"):
            found.append(ast.unparse(node))
    return found


# Made before any account exists (`init`), or a demo home of its own (`demo`): nothing to scope.
MAY_OPEN_THE_STORE = {"commands/init.py", "commands/demo.py"}


def test_no_command_or_page_opens_the_consent_store_but_through_the_door():
    offenders = {}
    for folder in ("commands", "review"):
        for path in sorted((ROOT / folder).glob("*.py")):
            rel = f"{folder}/{path.name}"
            if rel in MAY_OPEN_THE_STORE:
                continue
            found = _imports_the_store(path)
            if found:
                offenders[rel] = found
    assert not offenders, f"these reach the consent store without the door: {offenders}"
