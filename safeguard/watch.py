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
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import multiprocessing as mp
import os
import queue
import re
import secrets
import shutil
import signal
import stat as _stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from safeguard.config import Config
from safeguard.home import Home

log = logging.getLogger("safeguard.watch")

STATUS_FILE = "_safeguard-status.txt"
# Names that are still being written (browsers, Office, rsync, our own temp files) or that belong
# to the system: never taken, until renamed to a real name.
PARTIAL_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", ".filepart")
SYSTEM_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", STATUS_FILE.lower()}
WITHHELD = "a photo (name withheld: it contained a pupil's name)"
MAX_FAILURES = 3  # a photo whose worker dies this many times is rejected, not retried forever
RETRY_SECONDS = 30.0  # a commit that failed (ready folder unreachable, disk full) is retried
STATUS_MAX_BYTES = 512 * 1024


# ---------------------------------------------------------------------------------------------
# Settling


def is_ignored(name: str) -> bool:
    """True for names the watcher never takes: hidden, Office lock files, partial downloads and
    temp files (until renamed), system files, and the status file itself."""
    low = name.lower()
    return (name.startswith((".", "~$")) or low.endswith(PARTIAL_SUFFIXES) or low in SYSTEM_NAMES)


@dataclass(frozen=True)
class Sig:
    """What a look at a file sees; any change means it is still being written."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    regular: bool


def scan_inbox(inbox: Path, exclude: Iterable[Path] = ()) -> dict[str, Sig]:
    """Every candidate file under `inbox` (relative name -> Sig). Hidden and ignored names are
    skipped, folders are entered (not through links), `exclude` folders are skipped."""
    skip = {os.path.normpath(p) for p in exclude}
    out: dict[str, Sig] = {}
    stack = [(str(inbox), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            if not prefix:
                raise
            continue
        for e in entries:
            if is_ignored(e.name):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if _stat.S_ISDIR(st.st_mode):
                if os.path.normpath(e.path) not in skip:
                    stack.append((e.path, prefix + e.name + "/"))
                continue
            out[prefix + e.name] = Sig(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                       _stat.S_ISREG(st.st_mode))
    return out


def quick_decodes(path: Path, max_pixels: int | None = None) -> bool:
    """Does the file decode to the end? (A copy still in progress does not.) JPEGs are decoded
    at 1/8 scale, which still reads every byte but costs a few milliseconds. This runs in the
    watcher's own process, so nothing is decoded that the pipeline would refuse: an image over
    `max_pixels` (from its header) or a JPEG with more than MAX_JPEG_SCANS scans (from its
    markers) counts as complete, and the pipeline rejects it with the reason."""
    import warnings

    from PIL import Image, ImageFile

    from safeguard.images import DEFAULT_MAX_PIXELS, MAX_JPEG_SCANS, jpeg_scans

    limit = max_pixels or DEFAULT_MAX_PIXELS
    # process-wide Pillow settings, as decode_image sets them: a half-copied file must not pass
    # as whole because another library (face_recognition) allowed truncated images
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = limit, False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                if im.width * im.height > limit:
                    return True
                if im.format in ("JPEG", "MPO"):
                    if jpeg_scans(path.read_bytes()) > MAX_JPEG_SCANS:
                        return True
                    im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
        return True
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return True  # complete enough to know it is too big: the pipeline rejects it with reason
    except Exception:  # noqa: BLE001 - anything else means "not (yet) a whole image"
        return False
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


@dataclass
class _Seen:
    sig: Sig
    since: float  # monotonic time this exact signature was first seen
    decodes: bool | None = None
    taken: bool = False


class Settler:
    """Decides when a file is complete: the same size, mtime and ctime across two looks at least
    `settle` seconds apart, and it decodes. A file that stays undecodable is taken anyway after
    `give_up` seconds without change (the pipeline then rejects it with its reason); files that
    are not regular (links, devices) are taken as soon as they are stable (and rejected)."""

    def __init__(self, settle: float, give_up: float, decodes: Callable[[str], bool]) -> None:
        self.settle = settle
        self.give_up = give_up
        self.decodes = decodes
        self.seen: dict[str, _Seen] = {}

    def observe(self, now: float, wall: float, snapshot: dict[str, Sig]) -> list[str]:
        """Feed one look at the inbox; returns the names that are ready to take (each once)."""
        for gone in set(self.seen) - set(snapshot):
            del self.seen[gone]
        ready = []
        for rel, sig in sorted(snapshot.items(), key=lambda kv: (kv[1].mtime_ns, kv[0])):
            s = self.seen.get(rel)
            if s is None or s.sig != sig:
                self.seen[rel] = _Seen(sig, now)
                continue
            if s.taken or now - s.since < self.settle:
                continue
            if sig.regular and s.decodes is None:
                s.decodes = self.decodes(rel)
            if not sig.regular or s.decodes:
                s.taken = True
            else:
                unchanged_for = max(now - s.since, wall - max(sig.mtime_ns, sig.ctime_ns) / 1e9)
                s.taken = unchanged_for >= self.give_up
            if s.taken:
                ready.append(rel)
        return ready

    def waiting(self) -> bool:
        """Is any file seen but not yet taken?"""
        return any(not s.taken for s in self.seen.values())


def settled_files(inbox: Path, stop: threading.Event, *, settle: float = 1.0,
                  give_up: float = 30.0, poll: float | None = None, rescan: float = 10.0,
                  once: bool = False, exclude: Iterable[Path] = (),
                  max_pixels: int | None = None) -> Iterator[list[str]]:
    """Yield batches of relative names of files in `inbox` that are complete, each once.

    Woken by inotify events (watchdog) or, with `poll`, by looking every `poll` seconds (network
    shares deliver no events). Even with events the inbox is looked at every `rescan` seconds, in
    case events were lost. Ends when `stop` is set; with `once`, when every file seen has been
    yielded."""
    exclude = list(exclude)
    settler = Settler(settle, give_up, lambda rel: quick_decodes(inbox / rel, max_pixels))
    wake = threading.Event()
    observer = None if poll else _start_observer(inbox, wake)
    interval = poll if poll else (rescan if observer is not None else min(rescan, 2.0))
    failing = False
    try:
        while not stop.is_set():
            wake.clear()
            try:
                snapshot = scan_inbox(inbox, exclude)
                if failing:
                    log.warning("inbox readable again: %s", inbox)
                failing = False
            except OSError as e:
                if not failing:
                    log.warning("cannot read the inbox (%s); retrying", e.strerror or e)
                failing = True
                snapshot = None
            if snapshot is not None:
                got = settler.observe(time.monotonic(), time.time(), snapshot)
                if got:
                    yield got
                if once and not settler.waiting():
                    return
            timeout = min(settle, interval) if settler.waiting() else interval
            _wait(wake, stop, timeout)
            if wake.is_set():
                stop.wait(0.05)  # let a burst of events settle into one look
    finally:
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)


def _wait(wake: threading.Event, stop: threading.Event, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not stop.is_set() and not wake.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return
        wake.wait(min(left, 0.2))


def _start_observer(inbox: Path, wake: threading.Event):
    """A watchdog observer that sets `wake` on any write, rename or delete under `inbox`; None
    when inotify is not available (the caller then polls)."""
    try:
        from watchdog.events import (
            EVENT_TYPE_CLOSED,
            EVENT_TYPE_CREATED,
            EVENT_TYPE_DELETED,
            EVENT_TYPE_MODIFIED,
            EVENT_TYPE_MOVED,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer
    except ImportError:  # pragma: no cover - watchdog is a declared dependency
        return None
    wanted = {EVENT_TYPE_CLOSED, EVENT_TYPE_CREATED, EVENT_TYPE_DELETED, EVENT_TYPE_MODIFIED,
              EVENT_TYPE_MOVED}

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            # Reads (ours included) are not changes; nor are writes to the status file.
            if event.event_type in wanted and not str(event.src_path).endswith(STATUS_FILE):
                wake.set()

    observer = Observer()
    try:
        observer.schedule(_Wake(), str(inbox), recursive=True)
        observer.start()
    except OSError as e:
        log.warning("no file events for %s (%s): looking every 2 seconds", inbox, e)
        return None
    return observer


# ---------------------------------------------------------------------------------------------
# Claims


@dataclass
class Claim:
    id: str
    dir: Path
    rel: str  # the name relative to the inbox when it was claimed
    sha256: str | None  # None for what is not a regular file (never deduplicated)
    size: int
    mtime_ns: int
    failures: int = 0

    @property
    def input(self) -> Path:
        return self.dir / "in" / Path(self.rel).name

    @property
    def out_dir(self) -> Path:
        return self.dir / "out"

    def changed(self) -> bool:
        """Has the claimed file changed since the claim (a writer still had it open)?"""
        try:
            st = os.stat(self.input, follow_symlinks=False)
        except FileNotFoundError:
            return True
        return (st.st_size, st.st_mtime_ns) != (self.size, self.mtime_ns)

    def save(self) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "dir"}
        write_json_atomic(self.dir / "claim.json", data)


def new_claim_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"


def claim_file(inbox: Path, rel: str, processing: Path) -> Claim | None:
    """Move `inbox/rel` into a new claim folder under `processing`: an atomic rename when both
    are on one filesystem; otherwise copy to a temp name, fsync, rename, then remove the
    original (a crash in between leaves the original in the inbox, taken again later as a
    duplicate of this claim). None when the file is gone."""
    src = inbox / rel
    cid = new_claim_id()
    d = processing / cid
    (d / "in").mkdir(parents=True, mode=0o700)
    dst = d / "in" / src.name
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        shutil.rmtree(d, ignore_errors=True)
        return None
    except OSError as e:
        if e.errno != errno.EXDEV:
            shutil.rmtree(d, ignore_errors=True)
            raise
        if not _copy_across(src, dst):
            shutil.rmtree(d, ignore_errors=True)
            return None
    fsync_dir(dst.parent)
    fsync_dir(src.parent)
    claim = _describe(d, cid, rel)
    claim.save()
    return claim


def _copy_across(src: Path, dst: Path) -> bool:
    """Copy `src` to `dst` across filesystems without ever blocking on it: the source is opened
    non-blocking and without following links, and only a regular file's bytes are copied. A FIFO
    or a device in the inbox (an open would wait for a writer for good) is recreated as a FIFO,
    or an empty file, so that the loader rejects it as it would on one filesystem."""
    tmp = dst.with_name(".partial-" + dst.name)
    try:
        if src.is_symlink():
            os.symlink(os.readlink(src), tmp)
        else:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            st = os.fstat(fd)
            if _stat.S_ISREG(st.st_mode):
                with os.fdopen(fd, "rb") as fi, open(tmp, "wb") as fo:
                    shutil.copyfileobj(fi, fo, 1024 * 1024)
                    fo.flush()
                    os.fsync(fo.fileno())
                shutil.copystat(src, tmp)
            else:
                os.close(fd)
                if _stat.S_ISFIFO(st.st_mode):
                    os.mkfifo(tmp, 0o600)
                else:
                    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.rename(tmp, dst)
        fsync_dir(dst.parent)
        os.unlink(src)
    except FileNotFoundError:
        return False
    return True


def _describe(d: Path, cid: str, rel: str) -> Claim:
    p = d / "in" / Path(rel).name
    st = os.stat(p, follow_symlinks=False)
    sha = file_sha256(p) if _stat.S_ISREG(st.st_mode) else None
    return Claim(cid, d, rel, sha, st.st_size, st.st_mtime_ns)


def load_claim(d: Path) -> Claim | None:
    """The claim in folder `d` as a crash left it; None (and the folder removed) when it holds no
    complete input, which means the original never left the inbox."""
    try:
        data = json.loads((d / "claim.json").read_text())
        claim = Claim(dir=d, **data)
        if os.path.lexists(claim.input):
            return claim
    except (OSError, ValueError, TypeError):
        pass
    inputs = [p for p in (d / "in").glob("*") if not p.name.startswith(".partial-")] \
        if (d / "in").is_dir() else []
    if len(inputs) != 1:
        shutil.rmtree(d, ignore_errors=True)
        return None
    claim = _describe(d, d.name, inputs[0].name)
    claim.save()
    return claim


def record_outcome(claim: Claim, record: dict, key: bytes | None = None) -> None:
    """Write what the photo became, before anything leaves the claim (the commit point). Sealed
    with the file key (safeguard.sealed): a held photo's record says who was in it. A record with
    DSL details and no key is refused."""
    from safeguard import sealed

    if key is None:
        if "dsl" in record:
            raise sealed.SealedError("a held photo's outcome needs the key to be sealed")
        write_json_atomic(claim.dir / "outcome.json", record)
        return
    sealed.write_json(claim.dir / "outcome.json", record, key, f"watch/{claim.id}/outcome")


def read_outcome(claim: Claim, key: bytes | None = None) -> dict | None:
    from safeguard import sealed

    try:
        if key is None:
            return json.loads((claim.dir / "outcome.json").read_text())
        return sealed.read_json(claim.dir / "outcome.json", key, f"watch/{claim.id}/outcome")
    except FileNotFoundError:
        return None
    except (ValueError, sealed.SealedError):  # never half-written (atomic), never trusted broken
        os.unlink(claim.dir / "outcome.json")
        return None


def publish(staged: Path, ready: Path, tag: str) -> Path:
    """Put the verified copy `staged` into `ready` under its name (or name-2, ...), atomically,
    unless a file with exactly these bytes is already there (a commit repeated after a crash):
    then that file is returned and nothing is written."""
    data = staged.read_bytes()
    stem, ext = os.path.splitext(staged.name)
    existing = [ready / staged.name, *sorted(ready.glob(f"{glob_escape(stem)}-*{ext}"))]
    for p in existing:
        try:
            if p.stat().st_size == len(data) and p.read_bytes() == data:
                return p
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
    ready.mkdir(parents=True, exist_ok=True)
    tmp = ready / f".safeguard-watch-{tag}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    n = 1
    try:
        while True:
            final = ready / (staged.name if n == 1 else f"{stem}-{n}{ext}")
            try:
                os.link(tmp, final)
                break
            except FileExistsError:
                n += 1
            except OSError as e:  # shares without hard links: rename onto a name not yet taken
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                if os.path.lexists(final):
                    n += 1
                    continue
                os.rename(tmp, final)
                break
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    fsync_dir(ready)
    return final


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def hold(claim: Claim, record: dict, held_dir: Path, recovering: bool) -> str:
    """Keep the original for the DSL; after a crash, find the earlier hold of this claim."""
    from safeguard.held import HeldQueue

    q = HeldQueue(held_dir)
    if recovering:
        for held_id in q.ids():
            try:
                if q.record(held_id).get("watch_claim") == claim.id:
                    return held_id
            except (OSError, ValueError):
                continue
    return q.hold(claim.input.read_bytes(), dict(record, watch_claim=claim.id))


def reject(claim: Claim, reason: str, rejected_dir: Path, extra: dict) -> str:
    """Keep the original under HOME/rejected/<claim id>/ with reason.json; idempotent."""
    final = rejected_dir / claim.id
    if (final / "reason.json").exists():
        return claim.id
    rejected_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = rejected_dir / f".staging-{claim.id}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if _stat.S_ISREG(os.stat(claim.input, follow_symlinks=False).st_mode):
        with open(claim.input, "rb") as fi, open(staging / "original", "wb") as fo:
            shutil.copyfileobj(fi, fo, 1024 * 1024)
            fo.flush()
            os.fsync(fo.fileno())
        os.chmod(staging / "original", 0o600)
    info = {"id": claim.id, "name": claim.rel, "sha256": claim.sha256, "reason": reason,
            "rejected_at": dt.datetime.now(dt.UTC).isoformat(), **extra}
    write_json_atomic(staging / "reason.json", info)
    os.rename(staging, final)
    fsync_dir(rejected_dir)
    return claim.id


def release(claim: Claim) -> None:
    """Let go of a finished claim: the last step. The rename makes it atomic."""
    gone = claim.dir.with_name(".done-" + claim.id)
    os.rename(claim.dir, gone)
    shutil.rmtree(gone, ignore_errors=True)


def release_back(claim: Claim, inbox: Path) -> bool:
    """Put an unfinished claim back in the inbox (shutting down in a hurry). False when the name
    is taken again or the inbox is on another filesystem: the claim then stays and is resumed."""
    target = inbox / claim.rel
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(claim.input, target, follow_symlinks=False)
    except OSError:
        return False
    shutil.rmtree(claim.dir, ignore_errors=True)
    return True


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1024 * 1024), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# The target: one inbox's state under the home


def target_dir(home: Home, inbox: Path) -> Path:
    key = hashlib.sha256(str(inbox).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return home.root / "watch" / f"inbox-{key}"


class AlreadyRunning(Exception):
    pass


class Target:
    """HOME/watch/<target>/ for one inbox, locked while a watcher runs on it."""

    def __init__(self, home: Home, inbox: Path, ready: Path, channel: str) -> None:
        self.home, self.inbox, self.ready, self.channel = home, inbox, ready, channel
        self.dir = target_dir(home, inbox)
        self.processing = self.dir / "processing"
        self.ledger = Ledger(self.dir / "ledger.jsonl")
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Take the inbox's lock (POSIX lockf: not inherited by worker processes, released by
        the kernel when the watcher dies, even by kill -9)."""
        self.processing.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        for attempt in range(10):  # `safeguard status` probes the lock for a moment
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if attempt == 9:
                    os.close(fd)
                    raise AlreadyRunning(f"a watcher is already running on {self.inbox}") from None
                time.sleep(0.1)
        self._lock_fd = fd
        write_json_atomic(self.dir / "target.json", {
            "inbox": str(self.inbox), "ready": str(self.ready), "channel": self.channel,
            "pid": os.getpid(), "started": dt.datetime.now(dt.UTC).isoformat()})

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def tmp_tag(self) -> str:
        return self.dir.name

    def clean_ready_temps(self) -> None:
        """Temp files a killed watcher left in the ready folder (ours only: tagged by inbox)."""
        for p in self.ready.glob(f".safeguard-watch-{self.tmp_tag}*.tmp"):
            try:
                p.unlink()
            except FileNotFoundError:
                pass

    def claims(self) -> list[Path]:
        if not self.processing.is_dir():
            return []
        out = []
        for d in sorted(self.processing.iterdir()):
            if d.name.startswith(".done-"):
                shutil.rmtree(d, ignore_errors=True)
            elif d.is_dir():
                out.append(d)
        return out


def is_running(target: Path) -> bool:
    """Is a watcher holding this target's lock? (Probes the lock for an instant.)"""
    try:
        fd = os.open(target / "lock", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


class Ledger:
    """Append-only record of finished photos (content hash, outcome). Read once at start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_key: dict[tuple, dict] = {}
        self.claims: set[str] = set()

    def load(self) -> Ledger:
        self.by_key.clear()
        self.claims.clear()
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        self._index(json.loads(line))
                    except ValueError:
                        continue  # a line cut short by a crash
        except FileNotFoundError:
            pass
        return self

    def _index(self, e: dict) -> None:
        self.claims.add(e.get("claim", ""))
        if e.get("status") in ("exported", "held", "rejected") and e.get("sha256"):
            self.by_key.setdefault((e["sha256"], e.get("channel"), e.get("ready")), e)

    def seen(self, sha256: str | None, channel: str, ready: str) -> dict | None:
        return self.by_key.get((sha256, channel, ready)) if sha256 else None

    def add(self, entry: dict) -> None:
        line = json.dumps(entry) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._index(entry)

    def entries(self) -> Iterator[dict]:
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue
        except FileNotFoundError:
            return


# ---------------------------------------------------------------------------------------------
# What workers run


@dataclass(frozen=True)
class WatchSettings:
    """Everything a worker needs to build its Job; small and picklable."""

    home: Path
    channel: str
    config: Config
    unknown: str
    style: str
    output_format: str
    groups: tuple[str, ...] = ()  # class rosters: only their consenting pupils clear a face


def store_signature(home: Home) -> tuple:
    """Changes whenever the consent store's files change (every write replaces a file)."""
    sig = []
    for folder in (home.store_dir, home.store_dir / "encodings", home.keys_dir):
        try:
            for e in sorted(os.scandir(folder), key=lambda e: e.name):
                if e.name.endswith(".lock") or not e.is_file(follow_symlinks=False):
                    continue
                st = e.stat(follow_symlinks=False)
                sig.append((e.path, st.st_mtime_ns, st.st_size, st.st_ino))
        except FileNotFoundError:
            continue
    return (dt.date.today(), tuple(sig))


def folder_group(rel: str, known: Iterable[str]) -> str | None:
    """The class roster a photo's first-level subfolder of the inbox names, if any: `4O/trip.jpg`
    is taken with group 4O when some enrolled pupil is in 4O (case folded). A folder that names
    no group, and a photo at the top of the inbox, give None (the watcher's own groups)."""
    parts = Path(rel).parts
    if len(parts) < 2:
        return None
    wanted = parts[0].casefold()
    return next((g for g in sorted(set(known)) if g.casefold() == wanted), None)


class LiveJob:
    """The pipeline Job for the store as it is now: rebuilt when the store's files change (a
    withdrawal made by another process is seen by the next photo) or the date changes (consents
    expire). One Job per roster in use (the watcher's groups, or a subfolder's group)."""

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self.home = Home(settings.home)
        self._sig: tuple | None = None
        self._base = None  # the Job with the watcher's own groups
        self._jobs: dict[tuple[str, ...], object] = {}

    def job(self, out_dir: Path | None = None, rel: str | None = None):
        """The Job for a photo at `rel` (relative to the inbox), writing to `out_dir`."""
        from dataclasses import replace

        sig = store_signature(self.home)
        if sig != self._sig or self._base is None:
            self._base = self._build()
            self._jobs = {self._base.groups: self._base}
            self._sig = store_signature(self.home)
            if self._sig != sig:  # changed while reading: read again next time
                self._sig = None
        job = self._base
        known = {g for gs in job.matrix.groups for g in gs}
        group = folder_group(rel, known) if rel else None
        if group is not None:
            key = (group,)
            if key not in self._jobs:  # the roster's calibration, worked out once
                self._jobs[key] = replace(job, groups=key, clearable=None, calibration=None,
                                          decide_config=None)
            job = self._jobs[key]
        return replace(job, out_dir=out_dir)

    def names(self) -> tuple[str, ...]:
        return self.job().names

    def _build(self):
        from safeguard.pipeline import Job, store_inputs

        s = self.settings
        matrix, names = store_inputs(self.home, s.config, s.channel)
        return Job(config=s.config, channel=s.channel, unknown=s.unknown, style=s.style,
                   matrix=matrix, out_dir=None, held_dir=None, names=names,
                   output_format=s.output_format, groups=s.groups)


_LIVE: LiveJob | None = None


def _die_with_watcher(watcher: int) -> None:
    """End this worker the moment the watcher process ends, even by kill -9, so that no orphan
    goes on writing. Workers are children of multiprocessing's fork server, which itself stays up
    while workers live, so the kernel's parent-death signal alone is not enough: a thread waits
    on a pidfd of the watcher (Linux 5.3+), or polls, and exits the process."""
    import select

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: also end if the fork server dies
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    try:
        pidfd = os.pidfd_open(watcher)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None and not _alive(watcher):
        os._exit(1)

    def wait() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while _alive(watcher):
                time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=wait, name="safeguard-watch-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_init(settings: WatchSettings, watcher: int, workers: int = 1) -> None:
    global _LIVE
    _die_with_watcher(watcher)
    from safeguard.detect import in_halves

    in_halves(workers > 1)  # side by side, the workers' detector peaks add up
    # The watcher decides when to stop; workers finish the photo in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _LIVE = LiveJob(settings)


def _worker_warm() -> None:
    """Load the detector and read the store once, so the first photo is not slow."""
    import numpy as np

    from safeguard.detect import detect_faces

    detect_faces(np.zeros((64, 64, 3), np.uint8))
    assert _LIVE is not None
    _LIVE.job()


def _worker_process(claim_dir: str, input_path: str, rel: str | None = None):
    from safeguard.pipeline import process_file

    assert _LIVE is not None
    return process_file(Path(input_path), _LIVE.job(out_dir=Path(claim_dir) / "out", rel=rel))


# ---------------------------------------------------------------------------------------------
# The loop


@dataclass
class Counts:
    exported: int = 0
    held: int = 0
    rejected: int = 0
    duplicates: int = 0
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
                 emit: Callable[[dict], None] | None = None) -> None:
        self.t = target
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

    # -- control ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """First call: take no new files, finish those in hand. Second: give them back now.
        Safe to call from a signal handler (sets flags only)."""
        if self.stop_event.is_set():
            self.abandon = True
        self.stop_event.set()

    def run(self) -> Counts:
        self.t.ledger.load()
        self.t.clean_ready_temps()
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
                                       max_pixels=self.settings.config.max_pixels):
                self._q.put(("settled", batch))
        except Exception as e:  # noqa: BLE001 - reported, and the loop stops cleanly
            log.error("the inbox watcher failed: %s", e)
            self.stop_event.set()
        finally:
            self._q.put(("scanner-done",))

    def _start_pool(self) -> None:
        ctx = mp.get_context("forkserver")
        # Workers fork from a server that has the pipeline imported (fast to start, and no
        # fork of this multi-threaded process).
        ctx.set_forkserver_preload(["safeguard.pipeline", "safeguard.detect",
                                    "safeguard.identify", "safeguard.commands.scan",
                                    "consent_db"])
        self._pool = ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx,
                                         initializer=_worker_init,
                                         initargs=(self.settings, os.getpid(), self.jobs))
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
                try:
                    claim = claim_file(self.t.inbox, rel, self.t.processing)
                except OSError as e:
                    log.warning("could not take %s: %s", self._display(rel), e.strerror or e)
                    continue
                if claim is None or self._duplicate(claim):
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
            fresh = _describe(claim.dir, claim.id, claim.rel)
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
               "faces": [f.public() for f in o.faces], "flags": o.flags,
               "removed": o.removed}
        if o.status == "exported" and not o.output:
            rec.update(status="rejected", error="no verified copy was written")
        if o.status == "held":
            dsl = o.dsl_record()
            dsl.update(input=claim.rel, channel=self.t.channel, source="watch")
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
        if status == "exported":
            staged = claim.out_dir / rec["staged"]
            where = publish(staged, self.t.ready, f"{self.t.tmp_tag}-{claim.id}").name
        elif status == "held":
            where = hold(claim, rec["dsl"], self.t.home.held_dir, recovering)
        elif status == "rejected":
            where = reject(claim, rec.get("error") or "rejected", self.t.home.rejected_dir,
                           {"channel": self.t.channel})
        if claim.id not in self.t.ledger.claims:
            self._note(claim, rec, where)
        release(claim)

    def _note(self, claim: Claim, rec: dict, where: str | None) -> None:
        status = rec["status"]
        display = self._display(claim.rel)
        if status == "exported":
            redacted = sum(f.get("action") == "redact" for f in rec.get("faces", []))
            text = f"ready as {where}"
            self.counts.exported += 1
        elif status == "held":
            text = "held for safeguarding review"
            self.counts.held += 1
        elif status == "rejected":
            text = f"rejected: {self._reason(claim, rec.get('error'))}"
            self.counts.rejected += 1
        else:
            earlier = rec.get("of") or "an earlier photo"
            text = f"duplicate of {earlier}, already processed: removed from the inbox"
            self.counts.duplicates += 1
        now = dt.datetime.now().astimezone()
        self._status_line(f"{now:%Y-%m-%d %H:%M:%S}  {display}  ->  {text}")
        extra = ""
        if status == "exported":
            n = len(rec.get("faces", []))
            extra = f" ({n} face{'s' if n != 1 else ''}, {redacted} redacted)"
        log.info("%s | %s%s | %.2fs", display, text, extra, rec.get("seconds", 0.0))
        if self.emit is not None:
            self.emit({"time": now.isoformat(timespec="seconds"), "input": display,
                       "status": status, "output": where if status == "exported" else None,
                       "message": text, "held_id": where if status == "held" else None,
                       "faces": rec.get("faces", []), "seconds": rec.get("seconds", 0.0)})
        self.t.ledger.add({"time": now.isoformat(timespec="seconds"), "claim": claim.id,
                           "sha256": claim.sha256, "channel": self.t.channel,
                           "ready": str(self.t.ready), "status": status, "display": display,
                           "output": where if status == "exported" else None})

    def _give_back(self) -> None:
        """Second signal: put the photos in hand back in the inbox and leave now."""
        for flight in list(self._flight.values()):
            back = release_back(flight.claim, self.t.inbox)
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


def publish_status(master: Path, inbox: Path, line: str) -> None:
    """Append `line` to `master` (owner-only, under the home; trimmed to its last 2,000 lines
    past STATUS_MAX_BYTES) and copy it to INBOX/STATUS_FILE without following any link."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(master, flags, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    text = master.read_bytes()
    if len(text) > STATUS_MAX_BYTES:
        text = b"\n".join(text.splitlines()[-2000:]) + b"\n"
        from consent_db.storage import atomic_write_bytes

        atomic_write_bytes(master, text)
    dfd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        tmp = f".{STATUS_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o644, dir_fd=dfd)
        try:
            os.write(out, text)
            os.fsync(out)
        finally:
            os.close(out)
        try:
            os.replace(tmp, STATUS_FILE, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError:
            os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)


def display_name(rel: str, names: Iterable[str]) -> str:
    """The input's name as comms staff may see it: withheld when it holds a pupil's name (or when
    the names could not be read, signalled by a name of NUL); control characters replaced."""
    from safeguard.pipeline import mentions_pupil

    names = tuple(names)
    if "\0" in names or mentions_pupil(rel, names):
        return WITHHELD
    text = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)


def public_reason(error: str | None, claim: Claim, names: Iterable[str]) -> str:
    """A rejection reason fit for the status file: one line, no paths, no names."""
    from safeguard.pipeline import mentions_pupil

    text = (error or "could not be processed").splitlines()[0] if error else "could not be processed"
    for p in (str(claim.input), str(claim.dir), Path(claim.rel).name):
        text = text.replace(p, "the photo")
    names = tuple(names)
    if "\0" in names or mentions_pupil(text, names):
        return "could not be processed safely"
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


# ---------------------------------------------------------------------------------------------
# Status


def status_counts(home: Home, today: dt.date | None = None) -> dict:
    """Counts for `safeguard status`: photos waiting in each inbox, in processing, made ready
    today, held for the DSL (undecided), rejected."""
    today = today or dt.date.today()
    watchers = []
    root = home.root / "watch"
    for tj in sorted(root.glob("inbox-*/target.json")) if root.is_dir() else []:
        try:
            t = json.loads(tj.read_text())
        except (OSError, ValueError):
            continue
        inbox = Path(t["inbox"])
        try:
            waiting = len(scan_inbox(inbox, [Path(t["ready"]), home.root]))
        except OSError:
            waiting = None
        proc = tj.parent / "processing"
        processing = len([d for d in proc.iterdir() if not d.name.startswith(".")]) \
            if proc.is_dir() else 0
        ready_today = 0
        for e in Ledger(tj.parent / "ledger.jsonl").entries():
            if e.get("status") == "exported" and _local_date(e.get("time")) == today:
                ready_today += 1
        watchers.append({"inbox": str(inbox), "ready": t.get("ready"), "channel": t.get("channel"),
                         "running": is_running(tj.parent), "waiting": waiting,
                         "processing": processing, "ready_today": ready_today})
    return {
        "inbox": sum(w["waiting"] or 0 for w in watchers),
        "processing": sum(w["processing"] for w in watchers),
        "ready_today": sum(w["ready_today"] for w in watchers),
        "held": _count_held(home.held_dir),
        "rejected": _count_rejected(home.rejected_dir),
        "watchers": watchers,
    }


def _local_date(iso: str | None) -> dt.date | None:
    try:
        return dt.datetime.fromisoformat(iso).astimezone().date() if iso else None
    except ValueError:
        return None


def _count_held(folder: Path) -> int:
    from safeguard.held import HeldQueue

    q = HeldQueue(folder)
    n = 0
    for held_id in q.ids():
        try:
            n += q.record(held_id).get("state", "held") == "held"
        except (OSError, ValueError):
            continue
    return n


def _count_rejected(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
