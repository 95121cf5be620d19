"""The watched folder: photos dropped in an inbox come out safe in a ready folder, and nothing is
lost on the way, even across kill -9.

Three parts, each usable alone:

* settling: `Settler` (pure: which files have stopped changing) and `settled_files()`, a
  generator over an inbox that yields batches of settled files, woken by inotify events through
  watchdog or by polling, and ends when its stop event is set (or, with `once`, when nothing is
  left to wait for);
* claims: plain functions that move a file into the processing area (`claim_file`), record what
  became of it (`record_outcome`), put the result in its one place (`commit`) and let go of it
  (`release`). Every step is safe to repeat after a crash; `load_claim` reads back what a crash
  left;
* `Watcher`: the loop that feeds settled files to a pool of worker processes and commits their
  outcomes, one at a time, in the main thread.

State lives under HOME/watch/<target>/ (one target per inbox):

    target.json   inbox, ready folder and channel (read by `safeguard status`)
    lock          locked (lockf) by the running watcher: one watcher per inbox
    ledger.jsonl  one line per finished photo: content hash and outcome (duplicates, status)
    processing/<claim>/
        in/<name>     the claimed photo (moved here atomically before any work)
        claim.json    original name, content hash, size and mtime at the claim
        out/<name>    the worker's verified clean copy, before it is published
        outcome.json  what the photo became (written before anything leaves the claim)

A claim goes: claimed -> outcome.json written -> committed (published to ready, held, or
rejected; each done so that repeating it changes nothing) -> noted (status line, log, ledger) ->
released (the claim folder is removed, last). After a crash, a claim without outcome.json is
processed again; one with it is committed again, which finds its earlier result instead of
making a second one.

The parts live in one module each: `settle`, `claims`, `target` (the inbox's state and ledger),
`worker` (what the worker processes run), `loop` (`Watcher`) and `status` (what comms staff see).
"""

from safeguard.watch.claims import (
    Claim,
    claim_file,
    hold,
    load_claim,
    publish,
    read_outcome,
    record_outcome,
    reject,
    release,
    release_back,
)
from safeguard.watch.common import STATUS_FILE
from safeguard.watch.loop import Counts, Watcher
from safeguard.watch.settle import (
    Settler,
    Sig,
    is_ignored,
    quick_decodes,
    scan_inbox,
    settled_files,
)
from safeguard.watch.status import publish_status, status_counts
from safeguard.watch.target import AlreadyRunning, Ledger, Target, target_dir
from safeguard.watch.worker import LiveJob, WatchSettings, folder_group

__all__ = [
    "STATUS_FILE", "AlreadyRunning", "Claim", "Counts", "Ledger", "LiveJob", "Settler", "Sig",
    "Target", "WatchSettings", "Watcher", "claim_file", "folder_group", "hold", "is_ignored",
    "load_claim", "publish", "publish_status", "quick_decodes", "read_outcome", "record_outcome",
    "reject", "release", "release_back", "scan_inbox", "settled_files", "status_counts",
    "target_dir",
]
