"""Settling: which files in the inbox have stopped changing and decode (pure `Settler`,
and `settled_files()`, woken by watchdog's events or by polling)."""


from __future__ import annotations

import os
import stat as _stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
    from safeguard.watch import inbox as _inbox

    def _decodes(rel):
        _inbox.step("decoding", rel)
        return quick_decodes(inbox / rel, max_pixels)

    settler = Settler(settle, give_up, _decodes)
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


