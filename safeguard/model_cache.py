"""Models derived once per machine from the models that packages ship, kept in a private cache.

Some models safeguard runs are made from a shipped one: the text detector quantised to int8
(safeguard.quantised), CenterFace with symbolic input sizes (safeguard.detect.model), dlib's
face ResNet rebuilt as ONNX (safeguard.encoder). Making one takes from 0.1 s to 20 s, and every
worker process would pay it again at start-up: made once, the result is kept here and loaded in
a few milliseconds.

Nothing is downloaded and nothing derived is kept in the repository. The cache is per user
(`$SAFEGUARD_CACHE`, else `$XDG_CACHE_HOME/safeguard`, else `~/.cache/safeguard`); each file is
named by the model's name and a hash of everything that goes into it (the shipped model's bytes
and a version string, which names the recipe and whatever else changes the result). Two
processes starting together make a model once (a lock). A cache folder or model file that
another account owns or could write is not used: a face detector swapped for one that finds no
faces would let children through. Making a model removes that model's older files (another
hash). Where no cache can be written, callers make the model in memory instead: slower, never
different.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    env = os.environ.get("SAFEGUARD_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "safeguard"


def key(source: bytes, version: str) -> str:
    """The hash that names the model made from `source` at `version`."""
    h = hashlib.sha256(source)
    h.update(version.encode())
    return h.hexdigest()[:16]


def cached_path(name: str, source: bytes, version: str) -> Path:
    return cache_dir() / f"{name}-{key(source, version)}.onnx"


def derived(name: str, source: bytes, version: str, make: Callable[[bytes], bytes],
            takes: str = "a moment") -> Path:
    """The cached file of `make(source)`, made under a lock when it is missing (`takes`: how long
    that is, for the log line). Raises OSError (no cache to be had, or one another account could
    write) or whatever `make` raises."""
    dest = cached_path(name, source, version)
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private(dest.parent)
    if dest.is_file():
        private(dest)
        return dest
    from consent_db.storage import atomic_write_bytes

    with open(dest.parent / f".{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be making it now
        if not dest.is_file():
            log.info("making the %s model once for this machine (%s)", name, takes)
            atomic_write_bytes(dest, make(source))
            forget_older(name, dest)
    private(dest)
    return dest


def cached_or_made(name: str, source: bytes, version: str,
                   make: Callable[[bytes], bytes]) -> str | bytes:
    """The cached file's path of `make(source)` (`derived`), or, where no private cache can be
    had, `make(source)` itself, made in memory: the same model either way, for a session to
    load. Whatever `make` raises on a bad `source` is raised."""
    try:
        return str(derived(name, source, version, make))
    except Exception:  # noqa: BLE001 - no cache, or `make` refused the source: made here, or
        return make(source)  # raising what it raised


def forget_older(name: str, dest: Path) -> None:
    """Remove `name`'s other files from the cache (made by an earlier version, or from an earlier
    package's model): only `dest` is used from now on. A process already running holds its model
    in memory; one about to load a removed file makes it again, or runs without it."""
    mine = re.compile(rf"{re.escape(name)}-[0-9a-f]{{16}}\.onnx")
    for old in dest.parent.iterdir():
        if old != dest and mine.fullmatch(old.name) and old.is_file() and not old.is_symlink():
            old.unlink(missing_ok=True)


def private(path: Path) -> None:
    """Refuse a cache folder or model that another account could have written: it must be this
    user's, and writable by no group or other user."""
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise PermissionError(f"{path} is not private to this user (owner and permissions)")
