"""kill -9 in the middle of `safeguard index`, then run it again: every photo ends up indexed
exactly once, and what was committed before the kill is not encoded again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from support.index_support import SAMPLES

from safeguard.index import PhotoIndex

pytestmark = [pytest.mark.model, pytest.mark.slow]

N = 8


def _archive(folder):
    """N photos of Ben with distinct contents (bytes appended after the JPEG's end)."""
    folder.mkdir()
    data = (SAMPLES / "references" / "ben-1.jpg").read_bytes()
    for i in range(N):
        (folder / f"ben-{i}.jpg").write_bytes(data + f"copy {i}".encode())
    return folder


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _committed(home) -> int:
    """Photos in the index as a reader sees it now (0 while the first list is being written)."""
    try:
        return PhotoIndex(home).load().photos
    except Exception:  # noqa: BLE001 - mid-write: not committed yet, look again
        return 0


def test_kill_9_mid_run_then_rerun_loses_nothing_and_duplicates_nothing(demo_home, tmp_path):
    archive = _archive(tmp_path / "archive")
    index = PhotoIndex(demo_home)
    cmd = [sys.executable, "-m", "safeguard.cli", "--home", str(demo_home.root), "index",
           str(archive), "--jobs", "2", "--batch-size", "1", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # wait for the first committed batch: a segment counts once the sealed list names it
        # (written after the segment itself), so a segment file alone is not yet a commit
        while not (any(index.folder.glob("seg-*.bin")) and _committed(demo_home) >= 1):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no batch committed in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only: workers must follow it
        proc.wait()
        deadline = time.monotonic() + 20
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "worker processes outlived the killed indexer"
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()

    before = PhotoIndex(demo_home).load()
    assert 1 <= before.photos < N, "the run must have been killed midway"
    assert len(set(before.path)) == before.photos

    rerun = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    s = json.loads(rerun.stdout)
    assert s["unchanged"] == before.photos  # committed work is kept ...
    assert s["encoded"] == N - before.photos  # ... and only the rest is done
    after = PhotoIndex(demo_home).load()
    assert sorted(after.path) == sorted(str(p) for p in archive.iterdir())
    assert after.photos == N and after.faces == N  # one face each, none twice
    assert list(index.folder.glob(".*.tmp")) == []


def test_leftover_temp_file_from_a_crash_is_ignored_and_cleaned(demo_home, tmp_path):
    from support.index_support import index_json, make_archive

    archive = make_archive(tmp_path / "archive", ["ben-1.jpg"])
    index_json(demo_home.root, str(archive))
    folder = PhotoIndex(demo_home).folder
    stray = folder / ".seg-000000000002.bin.abc.tmp"  # what a kill during a write leaves
    stray.write_bytes(b"half a segment")
    assert PhotoIndex(demo_home).load().photos == 1
    code, s = index_json(demo_home.root, str(archive))
    assert code == 0 and s["photos_indexed"] == 1 and not stray.exists()
