"""A file of 1.5 GB that takes almost no disk (a JPEG's first bytes, then a hole made by
truncate) was dropped in the inbox: the watcher read all of it into memory to check that it was
complete (1.6 GB of memory), then kept a dense 1.5 GB copy of it under `rejected/`. Any inbox
user could fill the home's disk or the machine's memory with a few of them.

The watcher refuses a file over `max_file_bytes` from its size alone, and keeps only the record
of it (no copy) under the home. Memory is measured in a subprocess that starts the watcher and
reads its children's peak (ru_maxrss); disk as the blocks the home holds (st_blocks), so that a
sparse copy would not hide a dense one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support.helpers import new_home
from support.watch_helpers import REPO, faceless_jpeg, status_lines

from safeguard.config import Config, ConfigError
from safeguard.images import LoadError, read_bytes
from safeguard.watch import quick_decodes

SIZE = 1536 * 1024 * 1024

_PEAK = r"""
import json, resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
print(json.dumps({"rc": r.returncode, "stderr": r.stderr,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _blocks(root) -> int:
    """Bytes of disk the files under `root` take (allocated blocks, not their apparent size)."""
    return sum(os.lstat(os.path.join(d, f)).st_blocks * 512
               for d, _, files in os.walk(root) for f in files)


@pytest.mark.slow  # a real watcher process
def test_a_sparse_file_of_1_5_gb_is_rejected_from_its_size_with_little_memory_or_disk(tmp_path):
    home = new_home(tmp_path / "home")
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    huge = inbox / "huge.jpg"
    huge.write_bytes(faceless_jpeg(7))  # a real JPEG's header and scans first
    os.truncate(huge, SIZE)
    assert huge.stat().st_size == SIZE and huge.stat().st_blocks * 512 < 1024 * 1024
    home_before = _blocks(home.root)

    cmd = [sys.executable, "-m", "safeguard.cli", "--home", str(home.root), "watch", str(inbox),
           "--ready", str(ready), "--once", "--settle", "0.2", "--give-up", "1", "--jobs", "1"]
    out = subprocess.run([sys.executable, "-c", _PEAK, *cmd], capture_output=True, text=True,
                         cwd=REPO, timeout=900, check=True)
    got = json.loads(out.stdout)
    assert got["rc"] == 4, got["stderr"]  # finished; some rejected
    assert got["peak_mb"] < 400, got  # the watcher and its worker (110 MB), not the file

    [record_dir] = [d for d in home.rejected_dir.iterdir() if not d.name.startswith(".")]
    record = json.loads((record_dir / "reason.json").read_text())
    assert record["name"] == "huge.jpg"
    assert "too large" in record["reason"]
    assert record["size"] == SIZE and record["kept"] is False
    assert not (record_dir / "original").exists()
    assert _blocks(home.root) - home_before < 16 * 1024 * 1024  # a record, not a copy
    assert not huge.exists()
    assert not ready.exists() or not list(ready.iterdir())
    assert any("huge.jpg" in line and "rejected" in line and "too large" in line
               for line in status_lines(inbox)), status_lines(inbox)


def test_the_size_limit_is_a_bounded_setting_that_the_loader_and_the_check_obey(tmp_path):
    assert Config().max_file_bytes >= 100_000_000 * 3  # a 100 MP photo stored uncompressed
    for wrong in (1000, 4 * 1024 ** 3):
        with pytest.raises(ConfigError, match="max_file_bytes"):
            Config(max_file_bytes=wrong).check()
    big = tmp_path / "big.jpg"
    big.write_bytes(faceless_jpeg(3))
    os.truncate(big, 2 * 1024 * 1024)
    limit = 1024 * 1024
    with pytest.raises(LoadError, match="too large"):
        read_bytes(big, limit)
    assert quick_decodes(big, max_bytes=limit)  # complete: refused by its size, unread
