"""The loop: `Watcher` feeds settled files to worker processes and commits each outcome
in the main thread."""


from __future__ import annotations

import datetime as dt
import os
import queue
import shutil
import stat as _stat
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from safeguard.naming import quoted
from safeguard.outcome import AWAITING
from safeguard.watch.claims import (
    Claim,
    _describe,
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
from safeguard.watch.common import MAX_FAILURES, RETRY_SECONDS, log
from safeguard.watch.inbox import FILE_FLAGS, open_folder, open_inbox, split
from safeguard.watch.settle import Looks, settled_files
from safeguard.watch.status import display_name, public_reason, publish_status
from safeguard.watch.target import Target
from safeguard.watch.worker import (
    LiveJob,
    WatchSettings,
    _worker_init,
    _worker_process,
    _worker_warm,
)

# ---------------------------------------------------------------------------------------------
# The loop


@dataclass
class Counts:
    exported: int = 0
    held: int = 0
    rejected: int = 0
    duplicates: int = 0
    awaiting: int = 0  # ready once approved (a channel with approval = "slt")
    unfinished: int = 0  # decided but not yet committed (kept in processing; resumed next start)


@dataclass
class _InFlight:
    claim: Claim
    future: Future | None = None
    started: float = field(default_factory=time.monotonic)


class Watcher:
    """Feeds settled files to `jobs` worker processes and commits each outcome in the main
    thread. The inbox is watched from a second thread, so noticing never waits for processing."""

    def __init__(self, target: Target, settings: WatchSettings, *, jobs: int, settle: float = 1.0,
                 give_up: float = 30.0, poll: float | None = None, once: bool = False,
                 emit: Callable[[dict], None] | None = None, audit=None,
                 by: str | None = None, academy: str | None = None) -> None:
        """`audit` and `by` (the signed-in user, of `academy` in a trust): where a post for
        sign-off is recorded, and whose academy's approvers see it, for a channel whose posts
        need it (safeguard.approvals)."""
        from safeguard.approvals import needs_approval

        self.t = target
        self.sign_off = needs_approval(settings.config, settings.channel)
        if self.sign_off and (audit is None or not by):
            raise ValueError("a channel that needs sign-off needs the audit log and a user")
        self.audit, self.by, self.academy = audit, by, academy
        self.settings = settings
        self.jobs = max(1, jobs)
        self.settle, self.give_up, self.poll, self.once = settle, give_up, poll, once
        self.emit = emit
        self.live = LiveJob(settings)  # names, for what comms staff and the log may see
        from safeguard.sealed import home_key

        self.file_key = home_key(target.home.root)  # seals decided outcomes (safeguard.sealed)
        self.counts = Counts()
        self.stop_event = threading.Event()
        self.abandon = False
        self._q: queue.Queue = queue.Queue()
        self._pending: deque[str] = deque()
        self._resume: deque[Claim] = deque()
        self._flight: dict[str, _InFlight] = {}
        self._later: list[tuple[float, Claim, dict]] = []
        self._scanner_done = False
        self._pool: ProcessPoolExecutor | None = None
        self._inbox_fd: int | None = None  # the inbox, opened once: every look and claim uses it
        self._looks = Looks()
        self.max_bytes = settings.config.max_file_bytes

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """First call: take no new files, finish those in hand. Second: give them back now.
        Safe to call from a signal handler (sets flags only)."""
        if self.stop_event.is_set():
            self.abandon = True
        self.stop_event.set()

    def run(self) -> Counts:
        self._inbox_fd = open_inbox(self.t.inbox)
        try:
            return self._run()
        finally:
            os.close(self._inbox_fd)
            self._inbox_fd = None

    def _run(self) -> Counts:
        self.t.ledger.load()
        self.t.clean_ready_temps()
        self.t.clean_inbox_temps(self._inbox_fd)
        self._start_pool()
        self._recover()
        scanner = threading.Thread(target=self._scan, name="safeguard-watch-scan", daemon=True)
        scanner.start()
        try:
            while True:
                if self.abandon:
                    self._give_back()
                    break
                self._retry_due()
                self._fill()
                if not self._flight and (self.stop_event.is_set() or (
                        self.once and self._scanner_done and not self._pending
                        and not self._resume)):
                    break
                try:
                    item = self._q.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._handle(item)
        finally:
            self.stop_event.set()
            if self._pool is not None:
                if self.abandon:  # the photos in hand were given back: do not wait for them
                    for p in list(getattr(self._pool, "_processes", {}).values()):
                        p.kill()
                self._pool.shutdown(wait=not self.abandon, cancel_futures=True)
            scanner.join(timeout=5)
        self.counts.unfinished = len(self._later)
        return self.counts

    # -- threads ------------------------------------------------------------------------------

    def _scan(self) -> None:
        exclude = [self.t.ready, self.t.home.root]
        try:
            for batch in settled_files(self.t.inbox, self.stop_event, settle=self.settle,
                                       give_up=self.give_up, poll=self.poll, once=self.once,
                                       exclude=exclude,
                                       max_pixels=self.settings.config.max_pixels,
                                       max_bytes=self.max_bytes, inbox_fd=self._inbox_fd,
                                       looks=self._looks):
                self._q.put(("settled", batch))
        except Exception as e:  # noqa: BLE001 - reported, and the loop stops cleanly
            log.error("the inbox watcher failed: %s", e)
            self.stop_event.set()
        finally:
            self._q.put(("scanner-done",))

    def _start_pool(self) -> None:
        from safeguard import workers

        self._pool = workers.pool(self.jobs, _worker_init,
                                  (self.settings, os.getpid(), self.jobs), models=True)
        if not self.once:  # a service answers its first photo fast; a catch-up run just starts
            for _ in range(self.jobs):
                self._pool.submit(_worker_warm)

    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "settled":
            known = set(self._pending)
            self._pending.extend(r for r in item[1] if r not in known)
        elif kind == "scanner-done":
            self._scanner_done = True
        elif kind == "done":
            flight = self._flight.get(item[1])
            if flight is not None and flight.future is item[2]:
                self._done(flight)

    # -- claiming -----------------------------------------------------------------------------

    def _recover(self) -> None:
        """Whatever a crash left in processing: finish what was decided, redo the rest."""
        for d in self.t.claims():
            claim = load_claim(d)
            if claim is None:
                continue
            rec = read_outcome(claim, self.file_key)
            if rec is not None:
                self._try_finish(claim, rec, recovering=True)
            elif not self._duplicate(claim):
                self._resume.append(claim)

    def _fill(self) -> None:
        while len(self._flight) < self.jobs and not self.stop_event.is_set():
            if self._resume:
                claim = self._resume.popleft()
            elif self._pending:
                rel = self._pending.popleft()
                expect = self._looks.sigs.pop(rel, None)
                try:
                    claim = claim_file(self._inbox_fd, rel, self.t.processing, expect,
                                       self.max_bytes)
                except OSError as e:
                    log.warning("could not take %s: %s", self._display(rel), e.strerror or e)
                    self._looks.again.put(rel)
                    continue
                if claim is None:  # gone, out of reach or changed: looked at afresh
                    self._looks.again.put(rel)
                    continue
                if self._duplicate(claim):
                    continue
            else:
                return
            self._submit(claim)

    def _submit(self, claim: Claim) -> None:
        shutil.rmtree(claim.out_dir, ignore_errors=True)
        flight = self._flight.get(claim.id) or _InFlight(claim)
        self._flight[claim.id] = flight
        assert self._pool is not None
        fut = self._pool.submit(_worker_process, str(claim.dir), str(claim.input), claim.rel)
        flight.future = fut
        fut.add_done_callback(lambda f, cid=claim.id: self._q.put(("done", cid, f)))

    def _duplicate(self, claim: Claim) -> bool:
        """Same content as a photo already processed (or being processed) from this inbox for
        this channel and ready folder: not processed again; the copy is removed."""
        if claim.sha256 is None:
            return False
        earlier = self.t.ledger.seen(claim.sha256, self.t.channel, str(self.t.ready))
        if earlier is None:
            for f in self._flight.values():
                if f.claim.sha256 == claim.sha256 and f.claim.id != claim.id:
                    earlier = {"display": self._display(f.claim.rel), "status": "processing"}
                    break
        if earlier is None:
            for c in self._resume:
                if c.sha256 == claim.sha256 and c.id != claim.id:
                    earlier = {"display": self._display(c.rel), "status": "processing"}
                    break
        if earlier is None:
            return False
        rec = {"status": "duplicate", "of": earlier.get("display"),
               "of_status": earlier.get("status"), "of_output": earlier.get("output"),
               "seconds": 0.0}
        record_outcome(claim, rec, self.file_key)
        self._try_finish(claim, rec, recovering=False)
        return True

    # -- finishing ----------------------------------------------------------------------------

    def _done(self, flight: _InFlight) -> None:
        claim, fut = flight.claim, flight.future
        assert fut is not None
        try:
            outcome = fut.result()
        except BrokenProcessPool:
            self._pool_broke()
            return
        except Exception as e:  # noqa: BLE001 - a worker error is retried, then rejected
            self._failed(claim, f"{type(e).__name__}: {e}")
            return
        if claim.changed():  # someone was still writing into it: start again
            fresh = _describe(claim.dir, claim.id, claim.rel, self.max_bytes)
            flight.claim = fresh
            fresh.save()
            self._submit(fresh)
            return
        rec = self._record(claim, outcome)
        record_outcome(claim, rec, self.file_key)
        del self._flight[claim.id]
        self._try_finish(claim, rec, recovering=False)

    def _record(self, claim: Claim, o) -> dict:
        rec = {"status": o.status, "seconds": round(o.seconds, 3), "error": o.error,
               "staged": Path(o.output).name if o.output else None,
               "faces": o.public()["faces"], "flags": o.flags,  # as comms staff may see them
               "removed": o.removed}
        if o.status == "exported" and not o.output:
            rec.update(status="rejected", error="no verified copy was written")
        if rec["status"] == "exported" and self.sign_off:
            from safeguard.approvals import post_id_for

            rec["post"] = post_id_for(claim.id)  # fixed before it is committed: one post only
        if o.status == "held":
            dsl = o.dsl_record()
            dsl.update(input=claim.rel, channel=self.t.channel, source="watch")
            caption = self._caption_text(claim)
            if caption is not None:  # shown to the DSL, and sent on with a release for sign-off
                dsl["caption"] = caption
            if dsl.get("asked"):  # from _check/: the DSL's copy comes back to ready
                dsl["asked"].update(by=self.by, return_to=str(self.t.ready))
            rec["dsl"] = dsl  # DSL-only; lives under the home until released
        return rec

    def _pool_broke(self) -> None:
        """A worker died (out of memory, killed): count it against every photo in hand, start a
        new pool and try again; a photo that breaks it MAX_FAILURES times is rejected."""
        log.warning("a worker process died; restarting the workers")
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        if self.stop_event.is_set():
            self._flight.clear()  # left in processing; resumed on the next start
            return
        self._start_pool()
        for flight in list(self._flight.values()):
            self._failed(flight.claim, "the worker process died")

    def _failed(self, claim: Claim, why: str) -> None:
        claim.failures += 1
        claim.save()
        if self.stop_event.is_set():
            self._flight.pop(claim.id, None)
            return
        if claim.failures < MAX_FAILURES:
            log.warning("retrying %s after an error (%s)", self._display(claim.rel), why)
            self._submit(claim)
            return
        rec = {"status": "rejected", "seconds": 0.0,
               "error": "could not be processed (the worker failed repeatedly)"}
        record_outcome(claim, rec, self.file_key)
        self._flight.pop(claim.id, None)
        self._try_finish(claim, rec, recovering=False)

    def _try_finish(self, claim: Claim, rec: dict, recovering: bool) -> None:
        try:
            self._finish(claim, rec, recovering)
        except OSError as e:
            log.error("%s | could not be finished (%s): kept in processing, retried in %ds",
                      self._display(claim.rel), e.strerror or e, RETRY_SECONDS)
            self._later.append((time.monotonic() + RETRY_SECONDS, claim, rec))

    def _retry_due(self) -> None:
        now = time.monotonic()
        due = [x for x in self._later if x[0] <= now]
        self._later = [x for x in self._later if x[0] > now]
        for _, claim, rec in due:
            self._try_finish(claim, rec, recovering=True)

    def _finish(self, claim: Claim, rec: dict, recovering: bool) -> None:
        """Commit, note, release: each step repeatable after a crash."""
        status = rec["status"]
        where = None
        if status == "exported" and rec.get("post"):
            where = self._submit_post(claim, rec)
        elif status == "exported":
            staged = claim.out_dir / rec["staged"]
            where = publish(staged, self.t.ready, f"{self.t.tmp_tag}-{claim.id}").name
        elif status == "held":
            where = hold(claim, rec["dsl"], self.t.home.held_dir, recovering)
        elif status == "rejected":
            where = reject(claim, rec.get("error") or "rejected", self.t.home.rejected_dir,
                           {"channel": self.t.channel}, self.max_bytes)
        if claim.id not in self.t.ledger.claims:
            self._note(claim, rec, where)
        release(claim)

    def _submit_post(self, claim: Claim, rec: dict) -> str:
        """The verified copy and its caption wait for sign-off as a post of their own; once
        approved, the copy lands in ready (safeguard.approvals)."""
        from safeguard import approvals

        staged = claim.out_dir / rec["staged"]
        caption = self._caption_text(claim)
        post = approvals.submit_photo(self.t.home, rec["post"], self.t.channel, self.t.ready,
                                      caption, self.by, staged.name, staged.read_bytes(),
                                      self.audit, academy=self.academy)
        return post["id"]

    def _note(self, claim: Claim, rec: dict, where: str | None) -> None:
        status = rec["status"]
        display = self._display(claim.rel)
        post = rec.get("post") if status == "exported" else None
        output = where if status == "exported" and not post else None  # in ready
        if post:
            text = f"awaiting approval as post {post} (safeguard approvals status {post})"
            self.counts.awaiting += 1
        elif status == "exported":
            redacted = sum(f.get("action") == "redact" for f in rec.get("faces", []))
            text = f"ready as {where}"
            self.counts.exported += 1
        elif status == "held":
            from safeguard.pipeline import HELD_MESSAGE

            text = HELD_MESSAGE
            self.counts.held += 1
        elif status == "rejected":
            text = f"rejected: {self._reason(claim, rec.get('error'))}"
            self.counts.rejected += 1
        else:
            earlier = rec.get("of") or "an earlier photo"
            text = f"duplicate of {earlier}, already processed: removed from the inbox"
            self.counts.duplicates += 1
        caption = self._caption(claim) if status in ("exported", "held") else None
        if caption is not None:
            # the words quoted, but never a name: the status file is read by everyone with the inbox
            text += ("; caption: " + ", ".join(quoted(f["text"], f["what"]) if f["text"]
                                               else f["what"] for f in caption)
                     + ": change it before posting") if caption else "; caption: fine"
        now = dt.datetime.now().astimezone()
        self._status_line(f"{now:%Y-%m-%d %H:%M:%S}  {display}  ->  {text}")
        extra = ""
        if output:
            n = len(rec.get("faces", []))
            extra = f" ({n} face{'s' if n != 1 else ''}, {redacted} redacted)"
        log.info("%s | %s%s | %.2fs", display, text, extra, rec.get("seconds", 0.0))
        if self.emit is not None:
            self.emit({"time": now.isoformat(timespec="seconds"), "input": display,
                       # a copy waiting for sign-off reads as it does from blur --json
                       "status": AWAITING if post else status, "output": output,
                       "approval": post, "message": text,
                       "held_id": where if status == "held" else None,
                       "faces": rec.get("faces", []), "seconds": rec.get("seconds", 0.0),
                       **({"caption": {"ok": not caption, "findings": caption}}
                          if caption is not None else {})})
        self.t.ledger.add({"time": now.isoformat(timespec="seconds"), "claim": claim.id,
                           "sha256": claim.sha256, "channel": self.t.channel,
                           "ready": str(self.t.ready), "status": status, "display": display,
                           "output": output, **({"approval": post} if post else {})})

    def _caption(self, claim: Claim) -> list[dict] | None:
        """The findings in the caption beside the photo, or None when there is none."""
        from safeguard.naming import check_text, people

        text = self._caption_text(claim)
        if text is None:
            return None
        job = self.live.job()
        return [f.public() for f in check_text(text, people(job.people), job.all_groups)]

    def _caption_text(self, claim: Claim) -> str | None:
        """The caption beside the photo (INBOX/<same name>.txt), or None when there is none.
        Read through the inbox's open folder without following links, 64 KB at most."""
        try:
            parents, name = split(str(Path(claim.rel).with_suffix(".txt")))
            dfd = open_folder(self._inbox_fd, parents)
        except (OSError, ValueError):
            return None
        try:
            fd = os.open(name, FILE_FLAGS, dir_fd=dfd)
        except OSError:
            return None
        finally:
            os.close(dfd)
        try:
            if not _stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return os.read(fd, 65536).decode("utf-8", errors="replace")
        finally:
            os.close(fd)

    def _give_back(self) -> None:
        """Second signal: put the photos in hand back in the inbox and leave now."""
        for flight in list(self._flight.values()):
            back = release_back(flight.claim, self._inbox_fd)
            log.info("%s | %s", self._display(flight.claim.rel),
                     "put back in the inbox" if back else "left in processing: resumed next start")
        self._flight.clear()

    # -- what comms staff see -----------------------------------------------------------------

    def _names(self) -> tuple[str, ...]:
        try:
            return self.live.names()
        except Exception:  # noqa: BLE001 - no names readable: withhold every name
            return ("\0",)

    def _display(self, rel: str) -> str:
        return display_name(rel, self._names())

    def _reason(self, claim: Claim, error: str | None) -> str:
        return public_reason(error, claim, self._names())

    def _status_line(self, line: str) -> None:
        """Append `line` to the status log kept under the home, then publish a copy into the
        inbox. Inbox users can plant links there: the copy is written to a new file created
        exclusively, without following links, relative to the inbox opened as a directory
        without following links, and renamed over the status file (a rename replaces a link,
        it never writes through one). Nothing the watcher can write is reachable from the inbox."""
        try:
            publish_status(self.t.dir / "status.txt", self.t.inbox, line)
        except OSError as e:
            log.warning("cannot write the status file in the inbox: %s", e.strerror or e)


