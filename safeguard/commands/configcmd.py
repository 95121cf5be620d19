"""`safeguard config`: show the live configuration and where it comes from."""

from __future__ import annotations

import json
import sys

import click

from safeguard.commands.signin import AS_HELP
from safeguard.terminal import echo


@click.group()
def config() -> None:
    """Show the configuration (defaults overlaid with HOME/config.toml), and accept it."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
@click.option("--explain", is_flag=True, help="Say above each setting what it does, and its "
              "default where the live value differs (docs/settings.md has the same words).")
@click.pass_obj
def show(app, as_json: bool, explain: bool) -> None:
    """Print every setting and its live value."""
    import textwrap

    from safeguard.config import BY_NAME

    values = app.config.as_dict()
    if as_json:
        echo(json.dumps(values, indent=2))
        return
    src = app.home.config_file
    echo(f"# from {src}" if src.exists() else f"# defaults ({src} does not exist)")
    for k, v in values.items():
        if explain:
            row = BY_NAME[k]
            said = row.explain
            if getattr(app.config, k) != row.default:
                said += f" (default: {row.shown(row.default).removeprefix('at most ')})"
            echo("")
            for line in textwrap.wrap(said, 96):
                echo(f"# {line}")
        echo(f"{k} = {json.dumps(v)}")


@config.command("path")
@click.pass_obj
def path(app) -> None:
    """Print the path of the configuration file."""
    echo(str(app.home.config_file))


@config.command("accept")
@click.option("--yes", is_flag=True, help="Accept without asking (scripts); the changes are "
              "still printed.")
@click.option("--json", "as_json", is_flag=True, help="What changed, as JSON.")
@click.option("--as", "as_user", metavar="USER", help=AS_HELP)
@click.pass_obj
def accept(app, yes: bool, as_json: bool, as_user: str | None) -> None:
    """Check HOME/config.toml and accept it: photo commands run only on accepted settings.

    Prints what differs from the settings accepted last, then asks (--yes for scripts). Needs a
    trust-wide admin or DSL account; recorded in the audit log. A file edited by hand, put back
    or removed stops every photo command until someone accepts it here."""
    from safeguard import accepted_settings as acc
    from safeguard.commands.signin import signed_in
    from safeguard.config import ConfigError

    store, who = signed_in(app, "settings", as_user)
    if who.academy is not None:
        raise click.ClickException(f"{who.user}: the settings are the whole trust's; a trust-wide "
                                   "admin or DSL accepts them")
    src = app.home.config_file
    if not src.exists():
        raise click.ClickException(
            f"{src} is missing: restore it from your backup, or write the settings you mean "
            "(an empty file means every default), then run safeguard config accept")
    try:
        proposal = acc.propose(app.home, store)
    except ConfigError as e:
        raise click.ClickException(f"not accepted: {e}") from None
    last = proposal.last
    if as_json:
        echo(json.dumps({"accepted_before": proposal.accepted, "changes": proposal.changed,
                               "last": None if last is None else
                               {"by": last["by"], "at": last["at"]}}))
    elif proposal.accepted:
        echo(f"{src} is already accepted (by {last['by']}, {last['at']}); nothing changed.")
    else:
        if last is None:
            echo("No settings were accepted in this home before. Against the defaults:")
        else:
            echo(f"Against the settings accepted by {last['by']} on {last['at']}:")
        for line in proposal.changed or ["no setting differs (only comments or layout changed)"]:
            echo(f"  {line}")
    if proposal.accepted:
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException("not accepted: add --yes to accept without a prompt")
        click.confirm("Accept these settings for every photo command?", abort=True, err=True)
    try:
        acc.accept(store, proposal, who.user, app.home)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    if not as_json:
        echo(f"Accepted by {who.user}: photo commands now use these settings (audited).")
