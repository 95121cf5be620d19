"""`safeguard audit`: verify the chain, list entries (DSL only)."""

from __future__ import annotations

import click

from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _date, _emit_json, _signed

# -- audit ---------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The hash-chained audit log of every change to the consent store."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def audit_verify(ctx, as_json, as_user):
    """Check the chain: an edited, deleted or cut-off entry is reported (exit 1)."""
    store, _ = _signed(ctx, as_user, "audit.verify")
    r = store.audit.verify()
    if as_json:
        _emit_json({"ok": r.ok, "entries": r.entries, "problems": r.problems, "notes": r.notes})
    else:
        for n in r.notes:
            click.echo(f"note: {n}")
        for p in r.problems:
            click.echo(f"TAMPERED: {p}")
        click.echo(f"{r.entries} entries; chain {'intact' if r.ok else 'BROKEN'}.")
    if not r.ok:
        ctx.exit(1)


@audit.command("list")
@click.option("--pupil", help="Only entries about this pupil (or staff user).")
@click.option("--since", metavar="YYYY-MM-DD")
@click.option("--until", metavar="YYYY-MM-DD")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def audit_list(ctx, pupil, since, until, as_json, as_user):
    """Show audit entries."""
    store, _ = _signed(ctx, as_user, "audit")
    rows = store.audit.entries(
        pupil=pupil, since=_date(since, "--since"), until=_date(until, "--until")
    )
    if as_json:
        _emit_json(rows)
        return
    for e in rows:
        details = " ".join(f"{k}={v}" for k, v in e["details"].items())
        click.echo(
            f"{e['seq']:>6} {e['ts'][:19]} {e['actor']:<12} {e['action']:<22}"
            f" {e['subject'] or '-':<10} {details}"
        )
