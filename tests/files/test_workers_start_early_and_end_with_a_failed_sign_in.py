"""A blur pass starts its workers before it signs in, so that they load their models while the
store is opened (safeguard.pipeline.start_workers). They are given nothing before the job exists:
when sign-in fails, no photo is processed, nothing is written, and no worker outlives the
command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.model


def _tagged(tag: str) -> list[int]:
    """Processes whose environment holds `tag` (the command's workers inherit it)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if tag.encode() in (d / "environ").read_bytes():
                found.append(int(d.name))
        except OSError:
            continue
    return found


def test_a_failed_sign_in_processes_nothing_and_leaves_no_worker(demo_home, photos, tmp_path):
    out = tmp_path / "out"
    tag = f"SAFEGUARD_TEST_TAG={uuid.uuid4().hex}"
    env = {**os.environ, "SAFEGUARD_USER": "test-comms", "SAFEGUARD_PASSWORD": "not the password",
           tag.split("=")[0]: tag.split("=")[1]}
    exe = Path(sys.executable).parent / "safeguard"
    r = subprocess.run([str(exe), "--home", str(demo_home.root), "blur", "--jobs", "2", "--json",
                        "-o", str(out), str(photos / "visit.jpg"), str(photos / "assembly.jpg"),
                        str(photos / "phone-rotated-gps.jpg")],
                       env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "password" in r.stderr.lower() or "sign" in r.stderr.lower(), r.stderr[-2000:]
    assert '"input"' not in r.stdout  # no photo has an outcome: none was processed
    assert not out.exists() or not any(out.iterdir())
    deadline = time.monotonic() + 10
    while _tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _tagged(tag) == []
