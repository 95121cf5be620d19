"""Claims: a file moved into the processing area, what became of it, and its one place
(ready, held or rejected); every step safe to repeat after a crash."""


from __future__ import annotations

import contextlib
import datetime as dt
import errno
import glob
import hashlib
import json
import os
import secrets
import shutil
import stat as _stat
from dataclasses import asdict, dataclass
from pathlib import Path

from consent_db.storage import atomic_write_bytes, fsync_dir
from safeguard.config import Config
from safeguard.watch import inbox as _inbox
from safeguard.watch.common import log
from safeguard.watch.settle import Sig

# Files larger than this are not read (settings: max_file_bytes)
MAX_FILE_BYTES = Config.max_file_bytes

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


def claim_file(inbox: Path | int, rel: str, processing: Path, expect: Sig | None = None,
               max_bytes: int | None = None) -> Claim | None:
    """Move INBOX/rel into a new claim folder under `processing`, and only the file that was
    looked at (`expect`, when given). None when it is gone, out of reach or changed since.

    Inbox users can swap any subfolder for a link while this runs, so no path through the inbox
    is used: the file's folder is opened level by level from the inbox's descriptor (never
    through a link), and the file is moved out of that open folder by name. What arrived is
    then checked to be the file that was looked at (device, inode, size); anything else is put
    back where it was. Within one filesystem the move is one atomic rename; across filesystems
    the file is copied from its opened descriptor to a temp name, fsynced and renamed, then
    the original is removed (a crash in between leaves the original in the inbox, taken again
    later as a duplicate of this claim). `inbox` is the inbox's descriptor, or its path."""
    inbox_fd = _inbox.open_inbox(inbox) if not isinstance(inbox, int) else inbox
    try:
        return _claim(inbox_fd, rel, processing, expect, max_bytes or MAX_FILE_BYTES)
    finally:
        if inbox_fd is not inbox:
            os.close(inbox_fd)


def _claim(inbox_fd: int, rel: str, processing: Path, expect: Sig | None,
           max_bytes: int) -> Claim | None:
    _inbox.step("claiming", rel)
    try:
        parents, name = _inbox.split(rel)
        dfd = _inbox.open_folder(inbox_fd, parents)
    except FileNotFoundError:
        return None
    try:
        _inbox.step("folder-open", rel)
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if expect is not None and not _inbox.same_file(st, expect):
            return None  # changed since it was looked at: it is looked at again
        _inbox.step("checked", rel)
        cid = new_claim_id()
        d = processing / cid
        (d / "in").mkdir(parents=True, mode=0o700)
        ifd = os.open(d / "in", _inbox.DIR_FLAGS)
        try:
            try:
                os.rename(name, name, src_dir_fd=dfd, dst_dir_fd=ifd)
            except OSError as e:
                if e.errno == errno.EXDEV:
                    moved = _copy_across(dfd, name, ifd, expect or _sig(st), max_bytes)
                else:
                    moved = False
                    if e.errno != errno.ENOENT:
                        shutil.rmtree(d, ignore_errors=True)
                        raise
                if not moved:
                    shutil.rmtree(d, ignore_errors=True)
                    return None
            else:
                _inbox.step("claimed", rel)
                got = os.stat(name, dir_fd=ifd, follow_symlinks=False)
                if expect is not None and not _inbox.same_file(got, expect):
                    if _put_back(ifd, name, dfd, cid):
                        shutil.rmtree(d, ignore_errors=True)
                        return None
                    log.warning("a file changed while it was taken and could not be put back: "
                                "it is processed as it is now")
            os.fsync(ifd)
            os.fsync(dfd)
        finally:
            os.close(ifd)
    finally:
        os.close(dfd)
    claim = _describe(d, cid, rel, max_bytes)
    claim.save()
    return claim


def _sig(st: os.stat_result) -> Sig:
    return Sig(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, _stat.S_ISREG(st.st_mode),
               st.st_dev)


def _put_back(ifd: int, name: str, dfd: int, cid: str) -> bool:
    """Return what a claim moved but did not look at to the folder it came from, under its name
    or, when that was taken meanwhile, beside it; never replacing anything there."""
    return any(_inbox.rename_noreplace(name, ifd, new, dfd)
               for new in (name, f"{name}.returned-{cid[-6:]}"))


def _copy_across(dfd: int, name: str, ifd: int, expect: Sig, max_bytes: int) -> bool:
    """Copy `name` from the inbox folder `dfd` into the claim folder `ifd` across filesystems,
    never blocking, and only if it is the file that was looked at. The source is opened
    non-blocking and without following links, and only a regular file's bytes are copied, from
    that descriptor. A FIFO or a device in the inbox (an open would wait for a writer for good)
    is recreated as a FIFO, or an empty file, so that the loader rejects it as it would on one
    filesystem; a file over `max_bytes` as an empty file of its size (no disk used), refused by
    its size. The original is removed only while it is still that file."""
    tmp = ".partial-" + name
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if not _inbox.same_file(st, expect):
            return False
        if _stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=dfd), tmp, dir_fd=ifd)
        else:
            fd = os.open(name, _inbox.FILE_FLAGS, dir_fd=dfd)
            try:
                st = os.fstat(fd)
                if not _inbox.same_file(st, expect):
                    return False
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                if _stat.S_ISFIFO(st.st_mode):
                    os.mkfifo(tmp, 0o600, dir_fd=ifd)
                else:
                    out = os.open(tmp, flags, 0o600, dir_fd=ifd)
                    try:
                        if _stat.S_ISREG(st.st_mode) and st.st_size > max_bytes:
                            os.ftruncate(out, st.st_size)
                        elif _stat.S_ISREG(st.st_mode):
                            with os.fdopen(fd, "rb", closefd=False) as fi, \
                                    os.fdopen(out, "wb", closefd=False) as fo:
                                shutil.copyfileobj(fi, fo, 1024 * 1024)
                        os.fsync(out)
                    finally:
                        os.close(out)
                    if _stat.S_ISREG(st.st_mode):
                        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=ifd)
            finally:
                os.close(fd)
        os.rename(tmp, name, src_dir_fd=ifd, dst_dir_fd=ifd)
        os.fsync(ifd)
        if _inbox.same_file(os.stat(name, dir_fd=dfd, follow_symlinks=False), expect):
            os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=ifd)
        return False
    return True


def _describe(d: Path, cid: str, rel: str, max_bytes: int | None = None) -> Claim:
    """The claim of the file in `d`; its content hash (for duplicates) only when it is a regular
    file the pipeline would read at all, so that an oversize file is never read through."""
    p = d / "in" / Path(rel).name
    st = os.stat(p, follow_symlinks=False)
    small = st.st_size <= (max_bytes or MAX_FILE_BYTES)
    sha = file_sha256(p) if _stat.S_ISREG(st.st_mode) and small else None
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
    existing = [ready / staged.name, *sorted(ready.glob(f"{glob.escape(stem)}-*{ext}"))]
    for p in existing:
        try:
            if p.stat().st_size == len(data) and p.read_bytes() == data:
                return p
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
    from safeguard.images import write_atomic

    return write_atomic(data, ready, staged.name, tmp_prefix=f".safeguard-watch-{tag}")


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


def reject(claim: Claim, reason: str, rejected_dir: Path, extra: dict,
           max_bytes: int | None = None) -> str:
    """Keep the original under HOME/rejected/<claim id>/ with reason.json; idempotent. Only a
    regular file of at most `max_bytes` is copied (the most the pipeline would read); of
    anything larger only the record is kept (`size`, `kept` false), so that a huge or sparse
    file dropped in the inbox cannot fill the home's disk."""
    final = rejected_dir / claim.id
    if (final / "reason.json").exists():
        return claim.id
    rejected_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = rejected_dir / f".staging-{claim.id}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    kept, size = False, None
    try:
        fd = os.open(claim.input, _inbox.FILE_FLAGS)
    except OSError:
        fd = None
    if fd is not None:
        try:
            st = os.fstat(fd)
            size = st.st_size
            if _stat.S_ISREG(st.st_mode) and st.st_size <= (max_bytes or MAX_FILE_BYTES):
                out = os.open(staging / "original",
                              os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "rb", closefd=False) as fi, os.fdopen(out, "wb") as fo:
                    shutil.copyfileobj(fi, fo, 1024 * 1024)
                    fo.flush()
                    os.fsync(fo.fileno())
                kept = True
        finally:
            os.close(fd)
    info = {"id": claim.id, "name": claim.rel, "sha256": claim.sha256, "reason": reason,
            "size": size, "kept": kept,
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


def release_back(claim: Claim, inbox: Path | int) -> bool:
    """Put an unfinished claim back in the inbox (shutting down in a hurry), through the inbox's
    open folder and never through a link. False when the name is taken again or the inbox is on
    another filesystem: the claim then stays and is resumed."""
    try:
        inbox_fd = _inbox.open_inbox(inbox) if not isinstance(inbox, int) else inbox
    except OSError:
        return False
    try:
        parents, name = _inbox.split(claim.rel)
        dfd = _inbox.open_folder(inbox_fd, parents, create=True)
        try:
            os.link(claim.input, name, dst_dir_fd=dfd, follow_symlinks=False)
        finally:
            os.close(dfd)
    except OSError:
        return False
    finally:
        if inbox_fd is not inbox:
            os.close(inbox_fd)
    shutil.rmtree(claim.dir, ignore_errors=True)
    return True


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_json_atomic(path: Path, data: dict) -> None:
    """`data` as JSON, replaced atomically, fsynced, owner-only (the store's writer)."""
    atomic_write_bytes(path, json.dumps(data).encode())
