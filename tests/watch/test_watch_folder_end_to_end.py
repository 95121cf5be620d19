"""The watched folder with real processes: files dropped while the watcher runs end in their one
place, comms staff see only non-identifying status lines, a growing file is not taken early,
--poll works, a restart catches up, SIGTERM finishes cleanly, a withdrawal is seen at once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import build_demo_home
from support.watch_helpers import (
    REPO,
    SAMPLES,
    drop,
    faceless_jpeg,
    ready_files,
    resized_jpeg,
    run_once,
    status_json,
    status_lines,
    stop,
    wait_for,
    watcher,
)

from safeguard.images import load_image
from safeguard.metadata import inventory
from safeguard.watch import claim_file, publish, record_outcome, target_dir

pytestmark = [pytest.mark.model, pytest.mark.slow]

FAST = ("--settle", "0.3", "--give-up", "2", "--jobs", "1")


@pytest.fixture
def folders(tmp_path):
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    return inbox, ready


def _faces_near(path: Path, refs: list) -> float:
    """Smallest distance from any face left in `path` to the reference encodings (9 if none)."""
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces

    rgb = load_image(path).rgb
    faces = detect_faces(rgb)
    if not faces:
        return 9.0
    enc = encode_faces(rgb, faces)
    return float(min(np.linalg.norm(np.asarray(refs) - e, axis=1).min() for e in enc))


def test_dropped_photos_end_in_their_one_place_and_staff_see_no_names(
        demo_home, folders, reference_encodings):
    inbox, ready = folders
    proc = watcher(demo_home.root, inbox, ready, *FAST, "--jobs", "2", "--json",
                   stderr=subprocess.PIPE)
    try:
        garden = faceless_jpeg(10, (640, 480))
        drop(inbox, "garden.jpg", garden)
        drop(inbox, "Ada Example sports day.jpg", (SAMPLES / "photos" / "phone-rotated-gps.jpg")
             .read_bytes())
        drop(inbox, "notes.jpg", b"this is a text file, not a photo")
        wait_for(lambda: len(status_lines(inbox)) == 3, 90, what="three photos")
        drop(inbox, "garden copy.jpg", garden)  # the same photo again
        wait_for(lambda: len(status_lines(inbox)) == 4, 30, what="the duplicate")
        counts = status_json(demo_home.root)
    finally:
        assert stop(proc) == 0
    out, err = proc.communicate()

    names = ready_files(ready)
    assert "garden.jpg" in names and len(names) == 2
    [renamed] = [n for n in names if n != "garden.jpg"]
    assert renamed.startswith("photo-")  # the pupil's name is not carried into the ready folder
    assert [p.name for p in inbox.iterdir()] == ["_safeguard-status.txt"]
    assert list((target_dir(demo_home, inbox.resolve()) / "processing").iterdir()) == []

    # The restricted pupil is redacted and the location is gone from the ready copy.
    data = (ready / renamed).read_bytes()
    assert inventory(data) == []
    assert _faces_near(ready / renamed, reference_encodings["ada"]) > 0.6

    # Rejected: kept under the home with its reason, never in ready.
    [rej] = list(demo_home.rejected_dir.iterdir())
    assert (rej / "original").read_bytes() == b"this is a text file, not a photo"
    assert json.loads((rej / "reason.json").read_text())["reason"] == "not a recognised image"

    text = (inbox / "_safeguard-status.txt").read_text()
    log = (demo_home.logs_dir / "watch.log").read_text()
    for seen in (text, log, err, out, " ".join(names)):
        assert "Ada" not in seen and "Example" not in seen
    lines = status_lines(inbox)
    assert any("garden.jpg  ->  ready as garden.jpg" in x for x in lines)
    assert any("name withheld" in x and f"ready as {renamed}" in x for x in lines)
    assert any("notes.jpg  ->  rejected: not a recognised image" in x for x in lines)
    assert any("garden copy.jpg  ->  duplicate of garden.jpg" in x for x in lines)
    assert len([x for x in log.splitlines() if " | " in x]) == 4  # one line per photo
    records = [json.loads(x) for x in out.splitlines()]
    assert [r["status"] for r in records].count("exported") == 2

    assert counts["ready_today"] == 2 and counts["rejected"] == 1
    assert counts["inbox"] == 0 and counts["processing"] == 0 and counts["held"] == 0
    assert counts["watchers"][0]["running"] is True
    assert status_json(demo_home.root)["watchers"][0]["running"] is False


def test_a_withdrawal_made_in_another_process_is_seen_by_the_running_watcher(
        demo_home, folders, reference_encodings):
    inbox, ready = folders
    proc = watcher(demo_home.root, inbox, ready, *FAST, "--json")
    try:
        drop(inbox, "before.jpg", (SAMPLES / "photos" / "assembly.jpg").read_bytes())
        wait_for(lambda: (ready / "before.jpg").exists(), 90, what="the first photo")
        code = ("from pathlib import Path; from consent_db import ConsentStore; "
                "from safeguard.home import Home; "
                f"ConsentStore.open(Home(Path({str(demo_home.root)!r}))).withdraw_consent("
                "'P002', 'social', by='parent', actor='test')")
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)
        drop(inbox, "after.jpg", resized_jpeg(SAMPLES / "photos" / "assembly.jpg", 1100))
        wait_for(lambda: (ready / "after.jpg").exists(), 90, what="the second photo")
    finally:
        assert stop(proc) == 0
    records = {r["input"]: r for r in map(json.loads, proc.communicate()[0].splitlines())}
    assert sorted(f["label"] for f in records["before.jpg"]["faces"]) == ["cleared", "restricted"]
    assert [f["label"] for f in records["after.jpg"]["faces"]] == ["restricted", "restricted"]
    assert _faces_near(ready / "before.jpg", reference_encodings["ben"]) < 0.45  # kept
    assert _faces_near(ready / "after.jpg", reference_encodings["ben"]) > 0.6  # now redacted


def test_a_file_that_grows_for_seconds_is_not_taken_early(demo_home, folders):
    inbox, ready = folders
    data = faceless_jpeg(20, (1600, 1200))
    proc = watcher(demo_home.root, inbox, ready, "--settle", "0.5", "--give-up", "30")
    try:
        time.sleep(3)  # started and watching
        target = inbox / "slow copy.jpg"
        chunks = np.array_split(np.frombuffer(data, np.uint8), 8)
        with open(target, "wb") as f:
            for chunk in chunks:  # about 3.5 s in all, pauses longer than the settle time
                f.write(chunk.tobytes())
                f.flush()
                time.sleep(0.45)
                assert ready_files(ready) == [] and status_lines(inbox) == []
        wait_for(lambda: (ready / "slow_copy.jpg").exists(), 60, what="the ready copy")
    finally:
        assert stop(proc) == 0
    assert load_image(ready / "slow_copy.jpg").rgb.shape == (1200, 1600, 3)
    assert len(status_lines(inbox)) == 1 and "ready as slow_copy.jpg" in status_lines(inbox)[0]
    assert list(demo_home.rejected_dir.iterdir()) == []


def test_poll_mode_takes_files_without_file_events(demo_home, folders):
    inbox, ready = folders
    proc = watcher(demo_home.root, inbox, ready, "--poll", "0.5", *FAST)
    try:
        drop(inbox, "polled.jpg", faceless_jpeg(30), via_part=False)
        wait_for(lambda: (ready / "polled.jpg").exists(), 60, what="the polled photo")
    finally:
        assert stop(proc) == 0


def test_a_restart_catches_up_with_the_inbox_and_what_a_crash_left(demo_home, folders):
    inbox, ready = folders
    inbox = inbox.resolve()
    processing = target_dir(demo_home, inbox) / "processing"
    processing.mkdir(parents=True)
    # Waiting in the inbox while nothing ran.
    for i in range(3):
        drop(inbox, f"waiting-{i}.jpg", faceless_jpeg(40 + i))
    # Claimed, then the watcher died before finishing it.
    drop(inbox, "claimed.jpg", faceless_jpeg(50))
    claim_file(inbox, "claimed.jpg", processing)
    # Published to ready, then the watcher died before releasing the claim.
    drop(inbox, "published.jpg", faceless_jpeg(51))
    done = claim_file(inbox, "published.jpg", processing)
    staged = done.out_dir / "published.jpg"
    staged.parent.mkdir()
    from safeguard.metadata import encode_clean

    staged.write_bytes(encode_clean(load_image(done.input).rgb))
    record_outcome(done, {"status": "exported", "staged": "published.jpg", "seconds": 0.1})
    publish(staged, ready, "x")
    # Killed between writing the status file's new copy and renaming it over the old one.
    (inbox / "._safeguard-status.txt.4242.0badf00d.tmp").write_text("half a status line")

    r = run_once(demo_home.root, inbox, ready, *FAST)
    assert r.returncode == 0, r.stderr
    assert ready_files(ready) == ["claimed.jpg", "published.jpg", "waiting-0.jpg",
                                  "waiting-1.jpg", "waiting-2.jpg"]  # no published-2.jpg
    assert list(processing.iterdir()) == []
    assert [p.name for p in inbox.iterdir()] == ["_safeguard-status.txt"]


def test_two_workers_run_at_once_and_sigterm_finishes_the_photos_in_hand(demo_home, folders):
    inbox, ready = folders
    proc = watcher(demo_home.root, inbox, ready, *FAST, "--jobs", "2")
    processing = target_dir(demo_home, inbox.resolve()) / "processing"
    try:
        drop(inbox, "visit.jpg", (SAMPLES / "photos" / "visit.jpg").read_bytes())
        drop(inbox, "visit-small.jpg", resized_jpeg(SAMPLES / "photos" / "visit.jpg", 1200))
        wait_for(lambda: processing.is_dir() and len(list(processing.iterdir())) == 2, 60, 0.02,
                 what="both photos to be in hand at once")
    finally:
        assert stop(proc) == 0
    assert ready_files(ready) == ["visit-small.jpg", "visit.jpg"]
    assert list(processing.iterdir()) == []


def test_a_second_signal_gives_the_photo_in_hand_back_to_the_inbox(demo_home, folders):
    inbox, ready = folders
    proc = watcher(demo_home.root, inbox, ready, *FAST)
    processing = target_dir(demo_home, inbox.resolve()) / "processing"
    data = (SAMPLES / "photos" / "visit.jpg").read_bytes()
    try:
        drop(inbox, "visit.jpg", data)
        wait_for(lambda: processing.is_dir() and any(processing.iterdir()), 60, 0.02,
                 what="the photo to be claimed")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
    finally:
        assert stop(proc, timeout=20) == 0
    assert (inbox / "visit.jpg").read_bytes() == data
    assert list(processing.iterdir()) == []
    assert ready_files(ready) == []


def test_once_exits_with_the_batch_code_and_a_second_watcher_is_refused(
        tmp_path, folders, reference_encodings):
    home = build_demo_home(tmp_path / "reg-home", reference_encodings, ada_registers=("cp",))
    inbox, ready = folders
    drop(inbox, "assembly.jpg", (SAMPLES / "photos" / "assembly.jpg").read_bytes())
    proc = watcher(home.root, inbox, ready, *FAST)
    try:
        wait_for(lambda: status_lines(inbox), 90, what="the held photo")
        r = run_once(home.root, inbox, ready, *FAST)
        assert r.returncode == 1 and "already running" in r.stderr
    finally:
        assert stop(proc) == 0
    assert status_lines(inbox)[0].endswith("assembly.jpg  ->  held for the DSL to check")
    assert ready_files(ready) == []
    from safeguard.held import HeldQueue

    [held_id] = HeldQueue(home.held_dir).ids()
    assert HeldQueue(home.held_dir).original(held_id) == (SAMPLES / "photos" /
                                                          "assembly.jpg").read_bytes()
    drop(inbox, "bad.jpg", b"\xff\xd8\xff\xe0 cut short")
    drop(inbox, "again.jpg", resized_jpeg(SAMPLES / "photos" / "assembly.jpg", 1000))
    r = run_once(home.root, inbox, ready, "--settle", "0.2", "--give-up", "0")
    assert r.returncode == 5, r.stderr  # held and rejected
    assert status_json(home.root)["held"] == 2
