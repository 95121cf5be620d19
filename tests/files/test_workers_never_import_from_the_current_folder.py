"""Worker processes (the blur pass's pool, the watcher's, the index's) start from a fork server
that Python launches as `python -c ...`, a process that puts the current folder first on its
import path. Run from a folder anyone can write to (a shared photo folder), a planted `numpy/`
would then run inside every worker, with the store's key at hand. safeguard.workers keeps the
folder off the path: the planted package is never imported and the photos are processed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.helpers import signed_in_as

pytestmark = pytest.mark.model

PLANTED = ("numpy", "cv2", "safeguard", "multiprocessing")


def test_a_package_planted_in_the_current_folder_never_runs(demo_home, photos, tmp_path):
    folder = tmp_path / "shared-photos"
    marker = tmp_path / "planted-code-ran"
    for name in PLANTED:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n"
            "raise SystemExit('planted code ran')\n")
    for name in ("visit.jpg", "assembly.jpg"):
        (folder / name).write_bytes((photos / name).read_bytes())
    out = tmp_path / "out"
    exe = Path(sys.executable).parent / "safeguard"  # the installed command, as staff run it
    env = {**os.environ, **signed_in_as("test-comms")}
    env.pop("PYTHONSAFEPATH", None)
    r = subprocess.run([str(exe), "--home", str(demo_home.root), "blur", "--jobs", "2", "--json",
                        "-o", str(out), "visit.jpg", "assembly.jpg"],
                       cwd=folder, env=env, capture_output=True, text=True, timeout=600,
                       check=False)
    assert not marker.exists(), marker.read_text()
    assert r.returncode in (0, 3), r.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["assembly.jpg", "visit.jpg"]
