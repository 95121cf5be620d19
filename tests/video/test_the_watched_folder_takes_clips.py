"""The watched folder takes clips as it takes photos: a clip still being copied is left until it
is whole, and a watcher killed while it writes a clip finishes it after a restart, with nothing
partial in ready."""

from __future__ import annotations

import os
import signal

import pytest
from conftest import SAMPLES
from support.clips import Motion, camera_frames, write_phone_clip
from support.watch_helpers import (
    ready_files,
    run_once,
    status_lines,
    stop,
    wait_for,
    watcher,
)

pytestmark = pytest.mark.slow


def _clip_bytes(tmp_path, n=24) -> bytes:
    from safeguard.images import load_image

    photo = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    frames = camera_frames(photo, (640, 360), n, Motion(pan=0.1, centre=0.4))
    return write_phone_clip(tmp_path / "source.mp4", frames, 25, rotation=90).read_bytes()


def test_a_clip_still_being_copied_waits_until_it_is_whole(demo_home, tmp_path):
    import time

    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    data = _clip_bytes(tmp_path)
    target = inbox / "sports-day.mp4"
    proc = watcher(demo_home.root, inbox, ready, "--channel", "website", "--poll", "0.2")
    try:
        target.write_bytes(data[: len(data) // 2])  # a copy tool writing in place, paused
        time.sleep(8)  # well past the one-second settle: the size and time stand still
        assert target.exists() and ready_files(ready) == []  # not taken, not rejected
        with open(target, "ab") as fh:
            fh.write(data[len(data) // 2:])
        wait_for(lambda: ready_files(ready) == ["sports-day.mp4"], timeout=600,
                 what="the whole clip in ready")
        wait_for(lambda: any("sports-day.mp4" in line for line in status_lines(inbox)),
                 timeout=60, what="its status line")
    finally:
        stop(proc)


def test_a_watcher_killed_while_writing_a_clip_finishes_it_after_a_restart(demo_home, tmp_path):
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    data = _clip_bytes(tmp_path, n=75)
    proc = watcher(demo_home.root, inbox, ready, "--channel", "website", "--poll", "0.2")
    try:
        (inbox / "walk.mp4.part").write_bytes(data)
        os.rename(inbox / "walk.mp4.part", inbox / "walk.mp4")

        def writing():  # the clip's hidden copy is being written under the home
            return [p for p in demo_home.root.rglob(".safeguard-*.mp4")]

        wait_for(writing, timeout=600, interval=0.05, what="the clip being written")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert ready_files(ready) == []
    r = run_once(demo_home.root, inbox, ready, "--channel", "website")
    assert r.returncode == 0, r.stderr
    assert ready_files(ready) == ["walk.mp4"], (r.stdout, r.stderr)
    assert not [p for p in demo_home.root.rglob(".safeguard-*.mp4")]
    assert not (inbox / "walk.mp4").exists()
