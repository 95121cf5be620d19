"""`safeguard pupils references`: a pupil's references, where each came from, and removing one."""

from __future__ import annotations

import click

from safeguard.commands.signin import AS_HELP
from safeguard.commands.support import _emit_json, _run, _signed
from safeguard.terminal import echo


@click.command("references")
@click.argument("pupil_id")
@click.option("--remove", "remove_id", metavar="ID",
              help="Remove this reference (its encoding is destroyed; audited).")
@click.option("--reason", default="removed on request", show_default=True,
              help="Why, for the audit log (with --remove).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_context
def references(ctx, pupil_id, remove_id, reason, as_json, as_user):
    """List a pupil's references (the photo's date, enrolment or a face the DSL confirmed, who
    added it), or remove one with --remove ID. A reference older than reference_max_age_months
    clears nobody but still restricts."""
    door, _who = _signed(ctx, as_user, "pupils.write" if remove_id else "pupils.read")
    if remove_id:
        gone = _run(lambda: door.remove_reference(pupil_id, remove_id, reason=reason))
        if as_json:
            _emit_json({"removed": gone})
        else:
            echo(f"Removed reference {gone['id']} of {pupil_id} ({gone['source']}, photo of "
                 f"{gone['taken'] or 'unknown date'}).")
        return
    refs = _run(lambda: door.references(pupil_id))
    if as_json:
        _emit_json(refs)
        return
    months = ctx.find_root().obj.config.reference_max_age_months
    current = sum(r["current"] for r in refs)
    echo(f"{pupil_id}: {len(refs)} reference(s), {current} young enough to clear "
         f"(at most {months} months old)")
    for r in refs:
        extra = f"  held photo {r['photo']}" if r.get("photo") else ""
        old = "" if r["current"] else "  (too old to clear; still restricts)"
        echo(f"  {r['taken'] or '?':<10}  {r['source']:<12}  by {r['by'] or '(not recorded)'}"
             f"  added {(r['added'] or '?')[:10]}  id {r['id']}{extra}{old}")
