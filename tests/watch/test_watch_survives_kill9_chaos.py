"""Chaos: 200 photos flow through the watched folder while the watcher is killed with SIGKILL 20
times at random moments (workers included, through the parent-death signal). After a final clean
`--once` run every invariant holds: every input is in exactly one of ready / held / rejected, none
was exported unscanned (every ready copy is verified clean and the restricted pupil is redacted),
no partial or temp file is in ready, no photo is in ready twice, and no worker outlived its
watcher."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
from conftest import build_demo_home
from support.helpers import open_store
from support.watch_helpers import (
    SAMPLES,
    alive,
    descendants,
    drop,
    faceless_jpeg,
    ready_files,
    resized_jpeg,
    run_once,
    watcher,
)

from safeguard.held import HeldQueue
from safeguard.images import load_image
from safeguard.metadata import verify_clean
from safeguard.watch import target_dir

pytestmark = [pytest.mark.model, pytest.mark.slow]

KILLS = 20
ARGS = ("--settle", "0.2", "--give-up", "1", "--jobs", "2")


def _photos() -> dict[str, tuple[str, bytes]]:
    """name -> (expected place, bytes): 200 photos, all different."""
    photos: dict[str, tuple[str, bytes]] = {}
    for i in range(6):  # the restricted pupil alone: exported with her face redacted
        src = ["phone-rotated-gps.jpg", "visit.jpg"][i % 2]
        photos[f"ada-{i:02d}.jpg"] = ("ready", resized_jpeg(SAMPLES / "photos" / src, 520 + 10 * i))
    for i in range(4):  # with a pupil on a protected register: held for the DSL
        photos[f"reg-{i:02d}.jpg"] = ("held", resized_jpeg(SAMPLES / "photos" / "assembly.jpg",
                                                           600 + 10 * i))
    for i in range(4):  # cannot be decoded: rejected
        photos[f"bad-{i:02d}.jpg"] = ("rejected", faceless_jpeg(900 + i)[: 1500 + 100 * i])
    for i in range(200 - len(photos)):
        photos[f"p{i:03d}.jpg"] = ("ready", faceless_jpeg(i, (200 + (i % 5) * 8, 150)))
    return photos


def test_kill_9_twenty_times_loses_nothing_and_exports_nothing_unscanned(
        tmp_path, reference_encodings):

    home = build_demo_home(tmp_path / "home", reference_encodings)
    open_store(home).add_register("P002", "cp", actor="test")
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    photos = _photos()
    rng = random.Random(4)
    order = list(photos)
    rng.shuffle(order)
    batches = [order[k::KILLS] for k in range(KILLS)]
    status_file = inbox / "_safeguard-status.txt"

    def noted() -> int:
        return len(status_file.read_text().splitlines()) if status_file.exists() else 0

    def feed(names: list[str]) -> None:  # comms staff drop photos whatever the watcher is doing
        for k, name in enumerate(names):
            drop(inbox, name, photos[name][1], via_part=k % 3 != 0)
            time.sleep(rng.uniform(0.0, 0.3))

    orphans: list[int] = []
    for k in range(KILLS):
        feeder = threading.Thread(target=feed, args=(batches[k],))
        feeder.start()
        with open(tmp_path / "stderr.txt", "a") as err:
            proc = watcher(home.root, inbox, ready, *ARGS, stdout=subprocess.DEVNULL, stderr=err)
        if k % 2:  # at any moment: starting up, catching up, claiming, committing
            time.sleep(rng.uniform(0.2, 4.0))
        else:  # once it is busy: mid-photo, mid-commit
            goal = noted() + rng.randint(1, 5)
            end = time.monotonic() + 30
            while noted() < goal and time.monotonic() < end:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.5))
        kids = descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the watcher only: its workers must follow it
        proc.wait()
        feeder.join()
        deadline = time.monotonic() + 10
        while any(alive(p) for p in kids) and time.monotonic() < deadline:
            time.sleep(0.05)
        orphans += [p for p in kids if alive(p)]
    assert not orphans, "worker processes outlived the killed watcher"
    before = noted()
    print(f"chaos: {before} outcomes noted by the {KILLS} killed watchers")
    assert before >= 40, "the killed watchers did too little for the test to mean much"

    r = run_once(home.root, inbox, ready, *ARGS, timeout=600)
    # The batch code of what this last run still had to do (0 when the killed watchers had
    # finished everything, up to 5 with held and rejected photos left); 1 would mean a photo it
    # could not finish.
    assert r.returncode in (0, 3, 4, 5), r.stderr[-2000:]

    # Nothing waits anywhere.
    assert [p.name for p in inbox.iterdir()] == ["_safeguard-status.txt"]
    assert list((target_dir(home, inbox.resolve()) / "processing").iterdir()) == []

    # Every input is in exactly one place.
    sha = {n: hashlib.sha256(d).hexdigest() for n, (_, d) in photos.items()}
    held = HeldQueue(home.held_dir)
    held_shas = [held.record(i)["sha256"] for i in held.ids()]
    rejected_shas = [json.loads((d / "reason.json").read_text())["sha256"]
                     for d in home.rejected_dir.iterdir()]
    names = ready_files(ready)
    expect_ready = sorted(n for n, (where, _) in photos.items() if where == "ready")
    assert names == expect_ready  # none missing, no name-2.jpg duplicates, no temp files
    assert sorted(held_shas) == sorted(sha[n] for n, (w, _) in photos.items() if w == "held")
    assert sorted(rejected_shas) == sorted(sha[n] for n, (w, _) in photos.items()
                                           if w == "rejected")

    # Every ready copy was scanned: it decodes, carries no metadata, and the restricted pupil's
    # face is gone.
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces

    ada = np.asarray(reference_encodings["ada"])
    for n in names:
        data = (ready / n).read_bytes()
        rgb = load_image(ready / n).rgb
        verify_clean(data, "jpeg", (rgb.shape[1], rgb.shape[0]))
        if n.startswith("ada-"):
            faces = detect_faces(rgb)
            for e in encode_faces(rgb, faces) if faces else []:
                assert np.linalg.norm(ada - e, axis=1).min() > 0.6, n

    # One status line per photo that finished (a crash may repeat a line; never lose one).
    lines = (inbox / "_safeguard-status.txt").read_text().splitlines()
    for n in photos:
        assert any(f"  {n}  ->  " in x for x in lines), n
