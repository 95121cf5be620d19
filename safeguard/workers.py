"""Worker processes: one start method, one preload list and one parent-death guard for every pool
(the blur pass, the watcher, the index).

forkserver, not fork: the calling process may already run OpenCV or onnxruntime thread pools
(enrolment, the demo, a test session, the watcher's own threads), and a child forked from it can
deadlock on their locks. The server starts clean and forks workers with the heavy modules
imported, so each starts fast.

The server starts as `python -c ...`, and Python puts the current folder first on the import
path of such a process: run from a folder holding a `numpy/` or `safeguard/` folder (a shared
photo folder anyone can write to), the server would import that code, and every worker would
run it with the store's key at hand. `PYTHONSAFEPATH` (Python 3.11+) keeps the folder off the
path of every Python this process starts.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

PRELOAD = ["numpy", "cv2", "PIL.Image", "onnxruntime", "dlib", "consent_db.store",
           "safeguard.pipeline", "safeguard.detect", "safeguard.identify"]


def pool(jobs: int, initializer=None, initargs: tuple = (), models: bool = False
         ) -> ProcessPoolExecutor:
    """A process pool of `jobs` workers started from the fork server, each keeping the memory it
    frees for its next photo (`keep_freed_memory`) before `initializer` runs. With `models`, the
    server loads every model a photo needs before it forks a worker (safeguard.warm), where the
    server starts for this pool: a process's fork server is started once, by its first pool (or
    by `start_early`)."""
    return ProcessPoolExecutor(max_workers=jobs, mp_context=_context(models), initializer=_start,
                               initargs=(initializer, initargs))


def _context(models: bool):
    os.environ["PYTHONSAFEPATH"] = "1"  # no imports from the current folder (above)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD + (["safeguard.warm"] if models else []))
    return ctx


def start_early(paths, jobs: int) -> bool:
    """Start the fork server, loading every model (`pool(models=True)`), in the background now,
    where `paths` (a batch command's arguments) look like more than one photo
    (`looks_like_a_batch`) and `jobs` > 1: the server's 0.3 s of imports and 0.5 s of models then
    run while this process loads the pipeline (0.15 s), signs in and opens the store, instead of
    after. True if started."""
    if jobs < 2 or not looks_like_a_batch(paths):
        return False
    from multiprocessing import forkserver

    _context(models=True)
    forkserver.ensure_running()  # starts the server and returns: its imports run meanwhile
    return True


def looks_like_a_batch(paths) -> bool:
    """A guess from names alone, before the pipeline is loaded: two paths or more, or one folder
    with two pictures' names (suffixes.IMAGE_SUFFIXES) among its first few hundred folders. A
    wrong guess costs one idle process; the batch itself decides from what `collect_inputs`
    finds."""
    from pathlib import Path

    from safeguard.suffixes import IMAGE_SUFFIXES

    paths = [Path(p) for p in paths]
    if len(paths) != 1:
        return len(paths) > 1
    if not paths[0].is_dir() or paths[0].is_symlink():
        return False
    n = 0
    try:
        for i, (_root, dirs, names) in enumerate(os.walk(paths[0])):
            n += sum(1 for f in names if not f.startswith(".")
                     and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES)
            if n > 1 or i >= 200:
                break
            dirs[:] = [d for d in dirs if not d.startswith(".")]
    except OSError:
        return False
    return n > 1


def _start(initializer, initargs: tuple) -> None:
    keep_freed_memory()
    if initializer is not None:
        initializer(*initargs)


MMAP_THRESHOLD = 32 << 20  # bytes: glibc's largest; blocks below it come from the heap
TRIM_THRESHOLD = 1 << 30  # bytes of free heap top kept rather than given back


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory this process frees for the next photo instead of
    giving it back to the kernel: blocks up to MMAP_THRESHOLD come from the heap, and the
    heap's free top is kept up to TRIM_THRESHOLD. By default glibc gives back large blocks and
    a free heap top over a few MB, and every photo then took that memory again page by page:
    25,000-32,000 page faults a 12 MP photo, each zeroed by the kernel, about 0.06-0.1 CPU-s;
    kept, 9,000 (the 36 MB image buffers, over glibc's largest threshold), and the first photo
    0.3-0.4 CPU-s less (docs/benchmarks.md, "Memory"). The heap keeps what a large photo's
    smaller blocks needed: a lone worker's peak RSS was unchanged on the speed photos, but the
    pool's tree peaked 20-90 MB higher (1471-1505 MB against 1401-1448 on six large photos of odd
    shapes). False where this is not glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)
                and mallopt(m_trim_threshold, TRIM_THRESHOLD))


def side_by_side(on: bool = True) -> None:
    """Mark this process as one of several workers running at once, whose peaks add up: the face
    detector then runs its large passes as two halves (detect.in_halves).

    The text detector runs whole in every process: it took 0.08-0.1 CPU-s more a 12 MP photo in
    halves (0.39-0.41 in a worker against 0.31), and in one arena with the face detector's halves
    the whole text pass held no more at the tree's peak (speed photos 1071-1112 MB either way;
    119 test photos of many sizes 1230 MB against 1420 in halves, 2026-12-05, docs/benchmarks.md).
    """
    from safeguard.detect import in_halves

    in_halves(on)


def die_with(owner: int) -> None:
    """End this worker the moment the process `owner` (the pool's owner) ends, even by kill -9,
    so that no orphan goes on writing or holding a lock. Workers are children of the fork
    server, not of the owner, so the kernel's parent-death signal alone is not enough: a thread
    waits on a pidfd of the owner (Linux 5.3+), or polls, and exits the process."""
    import os
    import select
    import threading
    import time

    die_with_parent()  # also end if the fork server dies
    try:
        pidfd = os.pidfd_open(owner)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None and not _alive(owner):
        os._exit(1)

    def wait() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while _alive(owner):
                time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=wait, name="safeguard-worker-owner", daemon=True).start()


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent (the fork server, which lives while the
    pool's owner does) dies, so a kill -9 of the owner leaves no worker writing or holding a
    lock it inherited. Owners that must outlive that wait on their own pid too (the watcher)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the pool's pipe closes
        pass
