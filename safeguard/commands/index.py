"""`safeguard index` and `safeguard find`: find a pupil across everything already published.

Both are DSL tools: the index holds every face in the published archive, and `find` says in
which published photos a pupil appears.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from safeguard.commands.signin import AS_HELP, signed_in
from safeguard.exitcodes import ExitStatus, exit_codes_help
from safeguard.terminal import console, echo

INDEX_EXIT_HELP = exit_codes_help(ExitStatus.OK, ExitStatus.ERROR, ExitStatus.USAGE,
                                  ExitStatus.UNSCANNED, ExitStatus.INTERRUPTED)


@click.command(epilog=INDEX_EXIT_HELP)
@click.argument("archives", nargs=-1, type=click.Path(path_type=Path))
@click.option("--jobs", "-j", type=click.IntRange(1, 1024), default=None,
              help="Worker processes (default: all cores), or Ray actors with --ray "
                   "(default: every CPU of the cluster).")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Encode on a Ray cluster: its address (e.g. ray://head:10001 or auto), or "
                   "'local' to start one on this machine. Needs the ray extra; the archive must "
                   "be readable at the same path on every node.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=None,
              help="Commit after this many photos (default 64; also every 30 s).")
@click.option("--allow-empty", is_flag=True,
              help="Remove the entries of an archive folder in which no photo is found "
                   "(by default they are kept: the share may just not be mounted).")
@click.option("--erase", is_flag=True,
              help="Erase the whole index and its key (nothing else is touched).")
@click.option("--yes", is_flag=True, help="With --erase: do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="A JSON summary on stdout.")
@click.option("--as", "as_user", metavar="USER", help=AS_HELP)
@click.pass_obj
def index(app, archives, jobs, ray_address, batch_size, allow_empty, erase, yes, as_json,
          as_user):
    """Index every face in the published photos under ARCHIVES (folders or files).

    Only new or changed files are read; files gone from an archive lose their entries. The index
    (boxes, encodings, paths, content hashes; no names) is encrypted under the home with its own
    key, HOME/keys/index.key. Safe to interrupt (even kill -9): run it again to resume; what was
    finished is committed. A key missing, another run holding the index, a missing archive or an
    unreachable Ray cluster is an error (exit 1)."""
    from safeguard.index import BATCH_FILES, PhotoIndex, index_archive

    signed_in(app, "index", as_user)
    if erase:
        if archives:
            raise click.UsageError("--erase takes no ARCHIVES")
        if not yes:
            click.confirm("Erase the published-photo index and its key?", abort=True, err=True)
        existed = PhotoIndex(app.home).erase()
        if as_json:
            echo(json.dumps({"erased": existed}))
        else:
            echo("Index erased." if existed else "There was no index to erase.")
        return
    if not archives:
        raise click.UsageError("give one or more ARCHIVE folders (or --erase)")
    bar = _Bar(enabled=not as_json and sys.stderr.isatty())
    try:  # an IndexProblem is a SafeguardError: one line, exit 1 (safeguard.cli)
        summary = index_archive(app.home, archives, jobs=jobs, ray_address=ray_address,
                                batch_files=batch_size or BATCH_FILES, allow_empty=allow_empty,
                                max_pixels=app.config.max_pixels, progress=bar)
    finally:
        bar.close()
    for w in summary.warnings:
        echo(f"warning: {w}", err=True)
    if as_json:
        echo(json.dumps(summary.as_dict(), indent=1))
    else:
        _print_summary(summary)
    if summary.interrupted:
        echo("Interrupted: finished photos are committed; run the same command to resume.",
             err=True)
        return ExitStatus.INTERRUPTED
    return ExitStatus.UNSCANNED if summary.errors else ExitStatus.OK


def _print_summary(s) -> None:
    parts = [f"{s.found} photo(s) found", f"{s.unchanged} unchanged", f"{s.new} new",
             f"{s.changed} changed"]
    echo(", ".join(parts) + f"; {s.encoded} encoded ({s.faces_added} face(s)), "
         f"{s.touched + s.copied} with content already indexed, {s.removed} removed.")
    for e in s.error_files[:50]:
        echo(f"could not index {e['path']}: {e['error']}", err=True)
    for e in s.skipped[:50]:
        echo(f"skipped {e['path']}: {e['reason']}", err=True)
    echo(f"The index holds {s.photos_indexed} photo(s), {s.faces_indexed} face(s)"
         + (f"; {s.unscanned_indexed} file(s) could not be scanned"
            if s.unscanned_indexed else "")
         + f". ({s.seconds:.1f} s, {s.workers} {s.backend} worker(s))")


class _Bar:
    """A rich progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = None
        self.task = None

    def __call__(self, phase: str, total: int | None, advance: int) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.progress = Progress("[progress.description]{task.description}", BarColumn(),
                                     MofNCompleteColumn(), TimeRemainingColumn(),
                                     console=console(stderr=True), transient=True)
            self.progress.start()
            self.task = self.progress.add_task("Indexing", total=total)
        elif total is not None:
            self.progress.update(self.task, total=total)
        if advance:
            self.progress.advance(self.task, advance)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@click.command()
@click.option("--pupil", "pupil_id", required=True, metavar="ID", help="The pupil's id.")
@click.option("--tolerance", type=click.FloatRange(0.0, 2.0), default=None,
              help="Largest distance that counts as the pupil (default: config "
                   "restrict_tolerance, 0.6).")
@click.option("--json", "as_json", is_flag=True, help="JSON on stdout.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a contact sheet for the DSL here (owner-only, 0600).")
@click.option("--as", "as_user", metavar="USER", help=AS_HELP)
@click.pass_obj
def find(app, pupil_id, tolerance, as_json, html_out, as_user):
    """List every indexed published photo in which the pupil appears (DSL only).

    Compares every indexed face with the pupil's stored encodings; a photo is listed when one of
    its faces is within the tolerance of the closest of them. Files that could not be scanned are
    listed too: the pupil may be in them."""
    from safeguard.index import render_contact_sheet

    door, _ = signed_in(app, "find", as_user)
    # The pupil must be in the account's academy (safeguard.door); the search is audited. An
    # index that cannot be used is an IndexProblem: one line, exit 1 (safeguard.cli).
    found = door.find(pupil_id, tolerance, html=html_out is not None)
    snap, hits, tol, unscanned = found.snapshot, found.hits, found.tolerance, found.unscanned
    if html_out is not None:
        from consent_db.storage import atomic_write_bytes

        page = render_contact_sheet(pupil_id, hits, tol, snap.photos, unscanned)
        html_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(html_out.absolute(), page.encode("utf-8"))  # 0600
    if as_json:
        echo(json.dumps({
            "pupil": pupil_id,
            "tolerance": tol,
            "photos_searched": snap.photos,
            "faces_searched": snap.faces,
            "hits": [h.as_dict() for h in hits],
            "unscanned": [{"path": p, "error": e} for p, e in unscanned],
            "html": str(html_out) if html_out else None,
            "seconds": {"load": round(found.load_seconds, 4),
                        "search": round(found.search_seconds, 4)},
        }, indent=1))
        return
    for h in hits:
        echo(f"{h.distance:.3f}  {h.faces[0].box}  {h.path}")
    echo(f"{len(hits)} photo(s) of {pupil_id} among {snap.photos} indexed photo(s) "
         f"(tolerance {tol:.2f}; search {1000 * found.search_seconds:.0f} ms).")
    if unscanned:
        echo(f"{len(unscanned)} indexed file(s) could not be scanned; {pupil_id} may be in "
             "them:", err=True)
        for p, e in unscanned[:50]:
            echo(f"  {p}: {e}", err=True)
    if html_out is not None:
        echo(f"Contact sheet (DSL only) written to {html_out}.")
