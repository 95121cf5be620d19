"""The pools that process photos fork their workers from a server that has loaded every model
(safeguard.warm): a worker starts with them loaded, reads photos exactly as a process that
loaded its own, and does not load them again. A batch command starts that server before it
loads the pipeline when its arguments look like more than one photo (workers.start_early)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safeguard.workers import looks_like_a_batch

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "samples" / "photos" / "assembly.jpg"

PROBE = '''
import time

def look(path):
    """What this process has loaded, the CPU time loading models would take now, and the faces
    it finds in `path`."""
    from safeguard import pipeline
    from safeguard.detect import detect_faces
    from safeguard.images import load_image

    warm = sorted(pipeline._WARM)
    t = time.process_time()
    pipeline.warm_up()
    load = time.process_time() - t
    faces = [(f.box.as_list(), round(f.score, 4)) for f in detect_faces(load_image(path).rgb)]
    return warm, load, faces
'''


def _worker_look(tmp_path: Path, models: bool):
    (tmp_path / "probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    code = ("import probe\n"
            "from safeguard.workers import pool\n"
            f"with pool(1, models={models}) as p:\n"
            f"    print(p.submit(probe.look, {str(PHOTO)!r}).result())\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])


@pytest.mark.model
def test_a_worker_forked_from_a_loaded_server_reads_photos_as_one_that_loads_its_own(tmp_path):
    warm, load, faces = _worker_look(tmp_path, models=True)
    cold_warm, cold_load, cold_faces = _worker_look(tmp_path, models=False)
    assert warm == [("faces", 1), ("text", 1)]  # loaded before the worker existed
    assert cold_warm == []
    assert load < cold_load / 5  # nothing left to load (0.4-0.5 CPU-s where it loads its own)
    assert faces and faces == cold_faces


def test_a_batch_is_guessed_from_names_before_anything_loads(tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.jpg").write_bytes(b"")
    (one / "caption.txt").write_text("Sports day")
    (one / ".hidden.jpg").write_bytes(b"")
    two = tmp_path / "two"
    (two / "sub").mkdir(parents=True)
    (two / "a.JPG").write_bytes(b"")
    (two / "sub" / "b.heic").write_bytes(b"")
    assert not looks_like_a_batch([one / "a.jpg"])
    assert not looks_like_a_batch([one])  # one picture and a caption
    assert looks_like_a_batch([two])
    assert looks_like_a_batch([one / "a.jpg", one / "caption.txt"])
    assert not looks_like_a_batch([tmp_path / "missing"])
