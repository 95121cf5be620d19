"""Settling: which files in the inbox have stopped changing and decode (pure `Settler`,
and `settled_files()`, woken by watchdog's events or by polling)."""


from __future__ import annotations

import os
import queue
import stat as _stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from safeguard.watch import inbox as _inbox
from safeguard.watch.common import PARTIAL_SUFFIXES, STATUS_FILE, SYSTEM_NAMES, log

# ---------------------------------------------------------------------------------------------
# Settling


CAPTION_SUFFIX = ".txt"  # IMG_1.txt beside IMG_1.jpg: the photo's caption, read when it is taken


def is_ignored(name: str) -> bool:
    """True for names the watcher never takes: hidden, Office lock files, partial downloads and
    temp files (until renamed), system files, the status file itself, and captions (`.txt`,
    read with the photo of the same name)."""
    low = name.lower()
    return (name.startswith((".", "~$")) or low.endswith((*PARTIAL_SUFFIXES, CAPTION_SUFFIX))
            or low in SYSTEM_NAMES)


@dataclass(frozen=True)
class Sig:
    """What a look at a file sees; any change means it is still being written."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    regular: bool
    dev: int = 0  # with ino: which file it is (0: not known)


def scan_inbox(inbox: Path | int, exclude: Iterable[Path] = ()) -> dict[str, Sig]:
    """Every candidate file under `inbox` (relative name -> Sig). Hidden and ignored names are
    skipped; folders are entered through descriptors, never through links (a subfolder swapped
    for a link while it is walked is left alone); `exclude` folders (the ready folder, the
    home) are recognised by device and inode, not by name. `inbox` is a path, or the inbox
    already open as a folder (safeguard.watch.inbox)."""
    skip = set()
    for p in exclude:
        try:
            st = os.stat(p)
        except OSError:
            continue
        skip.add((st.st_dev, st.st_ino))
    fd = _inbox.open_inbox(inbox) if not isinstance(inbox, int) else os.dup(inbox)
    out: dict[str, Sig] = {}
    try:
        _walk(fd, "", skip, out, 0)
    finally:
        os.close(fd)
    return out


def _walk(fd: int, prefix: str, skip: set, out: dict[str, Sig], depth: int) -> None:
    with os.scandir(fd) as it:
        entries = list(it)
    for e in entries:
        if is_ignored(e.name):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if _stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in skip or depth + 1 >= _inbox.MAX_DEPTH:
                continue
            try:
                sub = os.open(e.name, _inbox.DIR_FLAGS, dir_fd=fd)
            except OSError:  # gone, swapped for a link, or not ours to read
                continue
            try:
                sst = os.fstat(sub)
                if (sst.st_dev, sst.st_ino) == (st.st_dev, st.st_ino):  # not swapped meanwhile
                    _walk(sub, prefix + e.name + "/", skip, out, depth + 1)
            except OSError:
                pass
            finally:
                os.close(sub)
            continue
        out[prefix + e.name] = Sig(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
                                   _stat.S_ISREG(st.st_mode), st.st_dev)


def quick_decodes(path: Path, max_pixels: int | None = None,
                  max_bytes: int | None = None) -> bool:
    """Does the file decode to the end? (A copy still in progress does not.) The file is opened
    without following a link or waiting on a FIFO; see `decodes_open`."""
    try:
        fd = os.open(path, _inbox.FILE_FLAGS)
    except OSError:
        return False
    try:
        return decodes_open(fd, max_pixels, max_bytes)
    finally:
        os.close(fd)


def decodes_in(inbox_fd: int, rel: str, sig: Sig, max_pixels: int | None = None,
               max_bytes: int | None = None) -> bool:
    """`quick_decodes` for INBOX/rel reached through the inbox's open folder, and only when it
    is still the file that was looked at (`sig`): otherwise False, and it is looked at again."""
    _inbox.step("decoding", rel)
    try:
        parents, name = _inbox.split(rel)
        dfd = _inbox.open_folder(inbox_fd, parents)
    except OSError:
        return False
    try:
        fd = os.open(name, _inbox.FILE_FLAGS, dir_fd=dfd)
    except OSError:
        return False
    finally:
        os.close(dfd)
    try:
        if not _inbox.same_file(os.fstat(fd), sig):
            return False
        return decodes_open(fd, max_pixels, max_bytes)
    finally:
        os.close(fd)


def decodes_open(fd: int, max_pixels: int | None = None, max_bytes: int | None = None) -> bool:
    """Does the open file decode to the end? JPEGs are decoded at 1/8 scale, which still reads
    every byte but costs a few milliseconds. This runs in the watcher's own process, so nothing
    is read or decoded that the pipeline would refuse: a file over `max_bytes` (from fstat,
    before reading anything), an image over `max_pixels` (from its header) or a JPEG with more
    than MAX_JPEG_SCANS scans (from its markers) counts as complete, and the pipeline rejects
    it with the reason."""
    import io
    import warnings

    from PIL import Image, ImageFile

    from safeguard.config import Config
    from safeguard.images import MAX_FILE_BYTES, MAX_JPEG_SCANS, jpeg_scans

    limit = max_pixels or Config.max_pixels
    max_bytes = max_bytes or MAX_FILE_BYTES
    try:
        st = os.fstat(fd)
    except OSError:
        return False
    if not _stat.S_ISREG(st.st_mode):
        return False
    from safeguard.video import inputs as clips

    if clips.looks_like_a_clip(os.pread(fd, 16, 0)):  # a clip has limits of its own
        return clips.complete(fd, st.st_size)  # its outline, not its frames
    if st.st_size > max_bytes:
        return True  # complete enough to know it is too big: refused by its size, unread
    # process-wide Pillow settings, as decode_image sets them: a half-copied file must not pass
    # as whole because another library (face_recognition) allowed truncated images
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = limit, False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = os.pread(fd, max_bytes + 1, 0)  # at most max_bytes: checked above
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > limit:
                    return True
                if im.format in ("JPEG", "MPO"):
                    if jpeg_scans(data) > MAX_JPEG_SCANS:
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
class Looks:
    """Shared by the thread that looks at the inbox and the one that claims: what each file
    handed over looked like when it settled (the claim takes only that very file), and names
    to look at afresh (a claim that found the file changed or out of reach)."""

    sigs: dict[str, Sig] = field(default_factory=dict)
    again: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)


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
                  max_pixels: int | None = None, max_bytes: int | None = None,
                  inbox_fd: int | None = None, looks: Looks | None = None
                  ) -> Iterator[list[str]]:
    """Yield batches of relative names of files in `inbox` that are complete, each once.

    The inbox is read through `inbox_fd` (the inbox opened as a folder by the caller, who
    claims through it too), else through a descriptor opened here once. Woken by inotify events
    (watchdog) or, with `poll`, by looking every `poll` seconds (network shares deliver no
    events). Even with events the inbox is looked at every `rescan` seconds, in case events were
    lost. Ends when `stop` is set; with `once`, when every file seen has been yielded. With
    `looks`, each yielded file's look is kept in `looks.sigs`, and names put in `looks.again`
    are looked at afresh."""
    exclude = list(exclude)
    own = inbox_fd is None
    fd = _inbox.open_inbox(inbox) if own else inbox_fd
    settler = Settler(settle, give_up, lambda rel: decodes_in(
        fd, rel, settler.seen[rel].sig, max_pixels, max_bytes))
    wake = threading.Event()
    observer = None if poll else _start_observer(inbox, wake)
    interval = poll if poll else (rescan if observer is not None else min(rescan, 2.0))
    failing = moved = False
    try:
        while not stop.is_set():
            wake.clear()
            while looks is not None and not looks.again.empty():
                settler.seen.pop(looks.again.get(), None)
            moved = _warn_if_moved(inbox, fd, moved)
            try:
                snapshot = scan_inbox(fd, exclude)
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
                    if looks is not None:
                        looks.sigs.update((rel, snapshot[rel]) for rel in got)
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
        if own:
            os.close(fd)


def _warn_if_moved(inbox: Path, fd: int, warned: bool) -> bool:
    """The folder watched is the one opened at the start, whatever now lies at its path (so
    that a folder swapped in at the path is never followed). Say so once when they differ."""
    try:
        a, b = os.stat(inbox, follow_symlinks=False), os.fstat(fd)
        same = (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    except OSError:
        same = False
    if not same and not warned:
        log.warning("the inbox %s is no longer the folder being watched (moved or replaced): "
                    "restart the watcher to watch the folder now there", inbox)
    return not same


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


