"""Durable, atomic, cross-process TinyDB storage.

TinyDB's `JSONStorage` rewrites the file in place (a crash leaves half a file) and takes no lock
(two processes lose each other's writes). This storage keeps TinyDB's two-method seam
(`read()` / `write(data)`) and changes only what is underneath:

- every write goes to a temp file in the same folder, is fsynced, `os.replace`d over the store
  and the folder is fsynced, so a reader or a crash sees the old file or the new one, never a mix;
- writes happen only inside `transaction()`, which holds a file lock across the whole
  read-modify-write, so four processes adding records concurrently lose none;
- outside a transaction every `read()` goes to disk: there is no cache, so a long-running process
  sees a withdrawal made by another process on its next read;
- given a key, the file is sealed with AES-256-GCM (`MAGIC`, then nonce, ciphertext and tag):
  names, consents and registers are no more readable from a copy of the folder than the
  encodings are. Given a key, anything else in the file's place (a plain JSON store written by
  hand, with an account and a password hash of someone's choosing) is refused, never read and
  sealed over: only the key's holder can make a store this storage will read.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from tinydb.storages import Storage

from consent_db.crypto import KeyProblem, seal, unseal
from consent_db.errors import StoreError

LOCK_TIMEOUT_S = 60.0
# The first bytes of a sealed store file (a JSON file starts with "{" or whitespace).
MAGIC = b"SGSTORE1"
_AAD = b"safeguard/store.json/v1"


class StorageError(StoreError):
    """The store's files cannot be read or written (a StoreError: shown to the user as it is)."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing a 20,000-pupil store allocates ~1M small
    dicts and strings, and the collector's passes over them cost more than the parse itself."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# Folders on filesystems that cannot fsync a directory (some network shares) say so with these;
# any other error (EIO: the disk failed) is raised.
_NO_DIR_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES,
                 errno.EPERM, errno.EISDIR}


def fsync_dir(folder: Path | None = None, *, fd: int | None = None) -> None:
    """Make a rename or a new name in `folder` (or the open folder `fd`) durable: the one
    folder fsync of the project. A filesystem that cannot fsync a folder is let be."""
    own = fd is None
    try:
        if own:
            fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
        os.fsync(fd)
    except OSError as e:
        if e.errno not in _NO_DIR_FSYNC and not isinstance(e, FileNotFoundError):
            raise
    finally:
        if own and fd is not None:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600,
                       follow_links: bool = True) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one: the one
    writer of files replaced in place (the store, its keys and records, the watcher's ledger and
    status, a model cache). The bytes go to a new hidden temp file beside it (`.NAME.*.tmp`),
    are fsynced, with `mode` less the umask (owner-only by default), then renamed over `path`, and the folder
    is fsynced. The temp file is never opened through a link, and a link at `path` is replaced,
    not written through. `follow_links=False` also refuses a folder that is itself a link: for
    folders others can write to, such as a shared inbox. New files that must never replace another
    are published by safeguard.images.write_atomic."""
    path = Path(path)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    dfd = os.open(path.parent, flags)
    try:
        tmp = _synced_temp(dfd, path.name, data, mode)
        try:
            os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            _unlink_quietly(tmp, dfd)
            raise
        fsync_dir(fd=dfd)
    finally:
        os.close(dfd)


def _synced_temp(dfd: int, name: str, data: bytes, mode: int) -> str:
    """A new hidden temp file `.NAME.*.tmp` in the open folder `dfd` holding `data`, fsynced,
    with `mode` less the umask; never opened through a link. Removed again if writing fails.
    Returns its name, for the caller to put in place (rename or link) and clean up."""
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode, dir_fd=dfd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        _unlink_quietly(tmp, dfd)
        raise
    return tmp


def _unlink_quietly(name: str, dfd: int) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        pass


def create_exclusive(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create `path` holding `data`, whole or not at all, and never over anything already there
    (FileExistsError, also for a dangling link): the writer of a new key. A crash leaves either
    no file or the complete one, never an empty or partial key that would have to be removed by
    hand. The bytes go to a hidden temp file beside it, are fsynced, and are hard-linked to the
    name (which fails if the name exists); on a share without hard links the temp file is renamed
    onto the name, checked free first."""
    path = Path(path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        tmp = _synced_temp(dfd, path.name, data, mode)
        try:
            os.link(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        except OSError as e:  # shares without hard links
            if isinstance(e, FileExistsError) or e.errno not in (
                    errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            try:
                os.stat(path.name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
            else:
                raise FileExistsError(errno.EEXIST, "file exists", str(path)) from e
        finally:
            _unlink_quietly(tmp, dfd)
        fsync_dir(fd=dfd)
    finally:
        os.close(dfd)


def store_lock(folder: Path, timeout: float = LOCK_TIMEOUT_S) -> FileLock:
    """The one lock that serialises every change to the files in `folder`."""
    # filelock polls a busy lock; its default 50 ms interval made four contending writers spend
    # most of their time asleep. A transaction takes a few ms, so poll at 2 ms.
    return FileLock(str(folder / "store.lock"), timeout=timeout, mode=0o600, poll_interval=0.002)


class AtomicJSONStorage(Storage):
    """TinyDB storage: atomic replace on write, a file lock around each transaction, no cache."""

    def __init__(
        self, path: str | os.PathLike[str], lock: FileLock, key: bytes | None = None,
        check: Any = None, before_read: Any = None,
    ) -> None:
        self.path = Path(path)
        self.lock = lock
        self.key = key  # None: plain JSON (tests of the storage alone)
        self.check = check  # called with every state read from the file; raises to refuse it
        # called just before each read of the file; what it returns is passed to `check` too
        # (the store reads its generation record first: writers write it after the file)
        self.before_read = before_read
        # Transaction state is per thread: the review app serves requests from a thread pool
        # over one store object, and one thread must never see another's uncommitted data.
        self._local = threading.local()

    @property
    def _txn(self) -> dict[str, Any] | None:
        return getattr(self._local, "txn", None)

    @_txn.setter
    def _txn(self, value: dict[str, Any] | None) -> None:
        self._local.txn = value

    @property
    def _writable(self) -> bool:
        return getattr(self._local, "writable", False)

    @_writable.setter
    def _writable(self, value: bool) -> None:
        self._local.writable = value

    @property
    def _dirty(self) -> bool:
        return getattr(self._local, "dirty", False)

    @_dirty.setter
    def _dirty(self, value: bool) -> None:
        self._local.dirty = value

    def _read_file(self) -> dict[str, Any] | None:
        token = self.before_read() if self.before_read is not None else None
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if self.key is not None and not raw.startswith(MAGIC):
            raise StorageError(
                f"{self.path} is not sealed with the store's key (a plain file was put in its"
                " place): refused. Restore store.json from your backup")
        if raw.startswith(MAGIC):
            if self.key is None:
                raise StorageError(f"{self.path} is encrypted and no key was given")
            try:
                raw = unseal(self.key, raw[len(MAGIC) :], _AAD)
            except KeyProblem as e:
                raise StorageError(
                    f"{self.path} cannot be decrypted with this key (wrong key file, or the"
                    " file was altered); restore the right key or the file from backup"
                ) from e
        if not raw.strip():
            return None
        try:
            with gc_paused():
                data = json.loads(raw)
        except json.JSONDecodeError as e:
            # Cannot happen through this class (writes are atomic); someone edited the file.
            raise StorageError(
                f"{self.path} is not valid JSON ({e}); restore it from backup"
            ) from e
        if self.check is not None:
            self.check(data, token)
        return data

    def read(self) -> dict[str, Any] | None:
        if self._txn is not None:
            return self._txn
        return self._read_file()

    def write(self, data: dict[str, Any]) -> None:
        if self._txn is None or not self._writable:
            raise StorageError("writes must happen inside AtomicJSONStorage.transaction()")
        self._txn = data
        self._dirty = True

    @property
    def in_transaction(self) -> bool:
        return self._txn is not None

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Lock, read fresh, let the caller change the data (through TinyDB or directly), commit
        once with an atomic replace. An exception inside discards every change."""
        if self._txn is not None:  # nested: join the outer transaction
            if not self._writable:
                raise StorageError("cannot write inside a read-only snapshot")
            yield self._txn
            return
        try:
            self.lock.acquire()
        except Timeout as e:
            raise StorageError(
                f"the store is locked by another process ({self.lock.lock_file}); try again"
            ) from e
        try:
            self._txn = self._read_file() or {}
            self._writable = True
            self._dirty = False
            yield self._txn
            if self._dirty:
                self.commit_now()
        finally:
            self._txn = None
            self._writable = False
            self._dirty = False
            self.lock.release()

    @contextmanager
    def snapshot(self) -> Iterator[dict[str, Any]]:
        """Read the file once (no lock: writes are atomic renames) and serve every read inside
        from that one consistent copy. Writing inside raises."""
        if self._txn is not None:
            yield self._txn
            return
        self._txn = self._read_file() or {}
        self._writable = False
        try:
            yield self._txn
        finally:
            self._txn = None

    def mark_dirty(self) -> None:
        self._dirty = True

    def commit_now(self) -> None:
        """Write the transaction's data to disk (inside a transaction only)."""
        assert self._txn is not None
        data = json.dumps(self._txn, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if self.key is not None:
            data = MAGIC + seal(self.key, data, _AAD)
        atomic_write_bytes(self.path, data)
        self._dirty = False

    def close(self) -> None:
        pass
