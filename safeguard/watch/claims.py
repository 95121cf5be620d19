"""Claims: a file moved into the processing area, what became of it, and its one place
(ready, held or rejected); every step safe to repeat after a crash."""


from __future__ import annotations

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
    from safeguard.watch import inbox as _inbox

    _inbox.step("claiming", rel)
    src = inbox / rel
    cid = new_claim_id()
    d = processing / cid
    (d / "in").mkdir(parents=True, mode=0o700)
    dst = d / "in" / src.name
    _inbox.step("folder-open", rel)
    _inbox.step("checked", rel)
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
    _inbox.step("claimed", rel)
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
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_json_atomic(path: Path, data: dict) -> None:
    """`data` as JSON, replaced atomically, fsynced, owner-only (the store's writer)."""
    atomic_write_bytes(path, json.dumps(data).encode())
