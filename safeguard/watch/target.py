"""The target: one inbox's state under the home (lock, ledger of finished photos)."""


from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from safeguard.home import Home
from safeguard.watch.claims import write_json_atomic
from safeguard.watch.common import SEND_AGAIN, STATUS_FILE

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

    def clean_inbox_temps(self, inbox_fd: int | None = None) -> None:
        """Status-file temp copies a killed watcher left in the inbox (the inbox is ours while
        we hold the lock, so any of them is stale), found and removed through the inbox's open
        folder (`inbox_fd`, else opened here without following a link)."""
        from safeguard.watch.inbox import open_inbox

        fd = open_inbox(self.inbox) if inbox_fd is None else inbox_fd
        try:
            with os.scandir(fd) as it:
                stale = [e.name for e in it
                         if fnmatch.fnmatchcase(e.name, f".{STATUS_FILE}.*.tmp")
                         and e.is_file(follow_symlinks=False)]
            for name in stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=fd)
        finally:
            if fd is not inbox_fd:
                os.close(fd)

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
    """Append-only record of finished photos (content hash, outcome), and of what was decided
    about them afterwards (safeguard.watch.feedback: a DSL's release or rejection, an approver's
    approval or decline), written by other processes while a watcher runs. `seen` reads what
    was appended since it last looked, so a decision made meanwhile counts at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_key: dict[tuple, dict] = {}
        self.claims: set[str] = set()
        self._offset = 0

    def load(self) -> Ledger:
        self.by_key.clear()
        self.claims.clear()
        self._offset = 0
        self.refresh()
        return self

    def refresh(self) -> None:
        """Index the complete lines appended since the last look (by anyone)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for line in data[:end].splitlines():
            try:
                self._index(json.loads(line))
            except ValueError:
                continue  # a line cut short by a crash
        self._offset += end

    def _index(self, e: dict) -> None:
        self.claims.add(e.get("claim", ""))
        if not e.get("sha256"):
            return
        key = (e["sha256"], e.get("channel"), e.get("ready"))
        decided = e.get("decided")
        if decided:
            # A later decision about the photo this key stands for: rejected or declined, it
            # may be sent again (with a better caption, say); otherwise its state is the latest.
            now = self.by_key.get(key)
            if now is None or now.get("claim") != e.get("claim"):
                return
            if decided in SEND_AGAIN:
                del self.by_key[key]
            else:
                self.by_key[key] = e
        elif e.get("status") in ("exported", "held", "rejected"):
            self.by_key.setdefault(key, e)

    def seen(self, sha256: str | None, channel: str, ready: str) -> dict | None:
        if not sha256:
            return None
        self.refresh()
        return self.by_key.get((sha256, channel, ready))

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
