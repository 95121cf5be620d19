"""`safeguard approvals`: the senior leader's sign-off of posts (safeguard/approvals.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from safeguard.commands.signin import AS_HELP
from safeguard.terminal import echo


def _signed(app, as_user, action="approvals"):
    from safeguard.commands.signin import signed_in

    return signed_in(app, action, as_user)


def _run(fn):
    from safeguard.approvals import ApprovalError

    try:
        return fn()
    except ApprovalError as e:
        raise click.ClickException(str(e)) from e


@click.group()
def approvals() -> None:
    """Posts waiting for sign-off (approval = {CHANNEL = "slt"} in config.toml): a DSL or a
    senior leader (role slt) approves them, and the copies land where they were meant to, or
    declines them with a reason."""


@approvals.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_obj
def list_(app, as_json, as_user):
    """Posts awaiting approval, newest first."""
    from safeguard import approvals as ap
    from safeguard.scope import academy_of

    store, who = _signed(app, as_user)
    posts = ap.pending(app.home, scope=academy_of(who))
    flags = {p["id"]: _run(lambda p=p: ap.caption_findings(p, store.check_caption))
             for p in posts}
    if as_json:
        echo(json.dumps([{k: p[k] for k in ("id", "channel", "submitted_by", "created",
                                             "caption", "out_dir")}
                         | {"photos": len(p["files"]), "academy": p.get("academy"),
                            "caption_flags": flags[p["id"]]}
                         for p in posts], indent=1))
        return
    if not posts:
        echo("Nothing is awaiting approval.")
    for p in posts:
        academy = f" ({p['academy']})" if p.get("academy") else ""
        flagged = f"  [CAPTION FLAGGED: {', '.join(flags[p['id']])}]" if flags[p["id"]] else ""
        echo(f"{p['id']}  {p['channel']:<10} {len(p['files'])} photo(s) from "
             f"{p['submitted_by']}{academy}  caption: {p.get('caption') or '-'}{flagged}")


def _in_words(name: str, data: bytes) -> str:
    """What a post's copy is, in words: a photo, or a clip with how long it runs, its size and
    whether it has sound (an approver with no player at hand knows what they would publish)."""
    from safeguard import approvals as ap

    if not ap.is_clip(name):
        return "a photo"
    try:
        from safeguard.video.clip import probe
        from safeguard.video.release import private_copy

        with private_copy(data) as path:
            info = probe(path)
    except Exception:  # noqa: BLE001 - said so; --save writes it out to be looked at
        return "a clip that cannot be read here"
    sound = "with sound" if info.audio else "no sound"
    return f"a clip of {info.seconds:.1f} seconds, {info.width}x{info.height}, {sound}"


@approvals.command()
@click.argument("post_id")
@click.option("--save", type=click.Path(file_okay=False, path_type=Path),
              help="Write the redacted copies here to look at them (owner-only files).")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_obj
def show(app, post_id, save, as_user):
    """One post: channel, caption (with what identifies a child flagged), the copies."""
    from safeguard import approvals as ap
    from safeguard.scope import academy_of

    store, who = _signed(app, as_user)
    post = _run(lambda: ap.get_for(app.home, post_id, academy_of(who)))
    echo(f"{post['id']}  {post['state']}  for {post['channel']}, from "
         f"{post['submitted_by']} on {post['created']}; lands in {post['out_dir']}")
    caption = post.get("caption")
    if caption:
        echo(f"caption: {caption}")
        findings = store.check_caption(caption)
        for f in findings:
            echo(f"  {f.quoted}")
        if findings:
            echo("  the caption identifies a child: approving it needs --caption-ok")
    for name, data in _run(lambda: ap.copies(app.home, post)):
        echo(f"  {name} ({_in_words(name, data)}, {len(data)} bytes)")
        if save is not None:
            from consent_db.storage import atomic_write_bytes

            save.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write_bytes(save / name, data)


@approvals.command()
@click.argument("post_id")
@click.option("--note", help="Optional note for the record.")
@click.option("--caption-ok", is_flag=True,
              help="Approve although the caption identifies a child (`approvals show` flags "
              "it): you have read it and it may be posted as it is. Recorded in the audit log.")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_obj
def approve(app, post_id, note, caption_ok, as_user):
    """Approve a post: its copies land in the folder they were meant for. A caption that
    identifies a child is refused unless --caption-ok says it was read."""
    from safeguard import approvals as ap
    from safeguard.scope import academy_of

    store, who = _signed(app, as_user)
    post = _run(lambda: ap.approve(app.home, post_id, who.user, store.audit, note,
                                   scope=academy_of(who), check=store.check_caption,
                                   caption_confirmed=caption_ok))
    echo(f"Approved {post_id}: {len(post['written'])} copies in {post['out_dir']}.")


@approvals.command()
@click.argument("post_id")
@click.option("--reason", required=True,
              help="Why (the submitter sees it, unless it names a pupil, a class or a register).")
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_obj
def decline(app, post_id, reason, as_user):
    """Decline a post: its copies are destroyed; the submitter sees the reason (withheld when it
    names a pupil, a class or a register), in `approvals status` and the watched inbox's status
    file, and may send the photo again once changed."""
    from safeguard import approvals as ap
    from safeguard.scope import academy_of

    store, who = _signed(app, as_user)
    _run(lambda: ap.decline(app.home, post_id, who.user, reason, store.audit,
                            scope=academy_of(who), check=store.check_caption))
    echo(f"Declined {post_id}.")


@approvals.command()
@click.argument("post_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--as", "as_user", help=AS_HELP)
@click.pass_obj
def status(app, post_id, as_json, as_user):
    """Where a post stands: for the account that made it and the staff of its academy (comms
    staff follow the posts of a watched folder someone else runs); trust-wide accounts see all."""
    from safeguard import approvals as ap
    from safeguard.scope import academy_of_submitter

    _, who = _signed(app, as_user, "photos")

    def mine() -> dict:
        post = ap.get(app.home, post_id)
        if post.get("submitted_by") == who.user or ap.visible(post, academy_of_submitter(who)):
            return post
        raise ap.ApprovalError("no such post")  # another academy's: as if it did not exist

    info = ap.public(_run(mine))
    if as_json:
        echo(json.dumps(info))
    else:
        echo(f"{info['id']}: {info['state']}" + (f" ({info['reason']})"
                                                  if info.get("reason") else ""))
