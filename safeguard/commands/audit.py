"""`safeguard audit`: verify the chain, list entries (DSL only)."""

from __future__ import annotations

import click

from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _date, _emit_json, _signed
from safeguard.exitcodes import AuditChainBroken, ExitStatus, exit_codes_help
from safeguard.terminal import echo

# -- audit ---------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The hash-chained audit log of every change to the consent store."""


@audit.command("verify", epilog=exit_codes_help(ExitStatus.OK, ExitStatus.ERROR, ExitStatus.USAGE,
                                                ExitStatus.AUDIT_BROKEN))
@click.option("--head", "noted", metavar="SEQ:DIGEST",
              help="A head digest noted earlier (`audit head`): the log must still hold it.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def audit_verify(ctx, noted, as_json, as_user):
    """Check the chain: an edited, deleted or cut-off entry, an older head put back, or a log
    that no longer holds a noted head digest is reported (exit 7)."""
    store, _ = _signed(ctx, as_user, "audit.verify")
    r = store.audit.verify(expect=noted)
    if as_json:
        _emit_json({"ok": r.ok, "entries": r.entries, "problems": r.problems, "notes": r.notes})
    else:
        for n in r.notes:
            echo(f"note: {n}")
        for p in r.problems:
            echo(f"TAMPERED: {p}")
        echo(f"{r.entries} entries; chain {'intact' if r.ok else 'BROKEN'}.")
    if not r.ok:
        raise AuditChainBroken(f"the audit log's chain is broken ({len(r.problems)} problem(s)); "
                               "keep this home as it is for an investigation")


@audit.command("head")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def audit_head(ctx, as_json, as_user):
    """Print a short digest of the log's end (SEQ:DIGEST) to note down or copy off this machine.

    A whole home put back from one older copy is consistent with itself: only something kept
    elsewhere shows it. `audit verify --head SEQ:DIGEST` later checks the log still holds it."""
    store, _ = _signed(ctx, as_user, "audit.verify")
    digest = store.audit.head_digest()
    if as_json:
        _emit_json({"head": digest})
    elif digest is None:
        echo("the audit log is empty")
    else:
        echo(f"audit head: {digest}")


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
        echo(
            f"{e['seq']:>6} {e['ts'][:19]} {e['actor']:<12} {e['action']:<22}"
            f" {e['subject'] or '-':<10} {details}"
        )
