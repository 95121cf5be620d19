"""`blur` and `scan` take clips as they take photos: a folder of photos and clips gets one line
each, clips with "kind": "video" and their tracks; a clip in a format it does not read, a
still in a video file, a clip cut short and a file without video are each rejected with a
one-line reason and never exported."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import SAMPLES
from support.clips import Motion, camera_frames, write_phone_clip
from support.helpers import json_lines, run_cli

pytestmark = pytest.mark.model


def _clip(path, n=20, rotation=0, audio=False):
    from safeguard.images import load_image

    photo = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    frames = camera_frames(photo, (640, 360), n, Motion(pan=0.1, centre=0.4))
    return write_phone_clip(path, frames, 25, rotation=rotation, audio=audio)


def _still_in_mp4(path):
    import av

    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("mjpeg", rate=1)
        s.width, s.height, s.pix_fmt = 64, 64, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _sound_only(path):
    import av

    with av.open(str(path), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 48000
        for p in a.encode(frame):
            c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def test_a_folder_of_photos_and_clips_gets_a_line_each(demo_home, tmp_path):
    src = tmp_path / "trip"
    src.mkdir()
    shutil.copy(SAMPLES / "photos" / "visit.jpg", src / "visit.jpg")
    _clip(src / "walk.mov")
    good = _clip(tmp_path / "whole.mp4", n=40)
    data = good.read_bytes()
    (src / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    _still_in_mp4(src / "still.mp4")
    _sound_only(src / "song.mp4")
    (src / "old.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST")
    out = tmp_path / "ready"
    r = run_cli("--home", demo_home.root, "blur", src, "--out", out, "--channel", "website",
                "--json")
    lines = {(line["input"].rsplit("/", 1)[-1]): line for line in json_lines(r.stdout)}
    assert set(lines) == {"visit.jpg", "walk.mov", "cut.mp4", "still.mp4", "song.mp4",
                          "old.avi"}, r.stdout
    walk = lines["walk.mov"]
    assert walk["kind"] == "video" and walk["status"] == "exported", (walk["flags"], walk["tracks"], walk["texts"])
    assert walk["tracks"] and all(set(t) >= {"track", "frames", "box", "label", "action"}
                                  for t in walk["tracks"])
    assert (out / "walk.mp4").exists()
    for name, words in (("cut.mp4", "cut short"), ("still.mp4", "still"),
                        ("song.mp4", "no video"), ("old.avi", "MP4, MOV or WebM")):
        assert lines[name]["status"] == "rejected", lines[name]
        assert words in lines[name]["error"], lines[name]
        assert "\n" not in lines[name]["error"]
    assert sorted(p.name for p in out.iterdir()) == ["visit.jpg", "walk.mp4"]
    assert r.exit_code == 4  # some rejected, none held


def test_scan_reports_a_clip_and_writes_nothing(demo_home, tmp_path):
    clip = _clip(tmp_path / "walk.mp4", rotation=90)
    r = run_cli("--home", demo_home.root, "scan", clip, "--channel", "website", "--json")
    (line,) = json_lines(r.stdout)
    assert line["kind"] == "video" and line["status"] == "exported" and line["output"] is None
    assert r.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["walk.mp4"]


def test_comms_may_not_keep_a_clips_sound_on_a_channel_that_strips_it(demo_home, tmp_path):
    clip = _clip(tmp_path / "walk.mp4", audio=True)
    out = tmp_path / "ready"
    r = run_cli("--home", demo_home.root, "--as", "test-comms", "blur", clip, "--out", out,
                "--channel", "website", "--audio", "keep")
    assert r.exit_code == 2 and "--audio keep is less strict" in r.output, r.output
    assert not out.exists() or not any(out.iterdir())


def test_blur_with_its_sound_kept_by_the_dsl_writes_it_and_audits_the_choice(demo_home,
                                                                             tmp_path):
    import av
    from support.helpers import open_store

    clip = _clip(tmp_path / "walk.mp4", audio=True)
    out = tmp_path / "ready"
    r = run_cli("--home", demo_home.root, "blur", clip, "--out", out, "--channel", "website",
                "--audio", "keep", "--json")
    (line,) = json_lines(r.stdout)
    assert line["status"] == "exported", line
    with av.open(line["output"]) as c:
        assert sorted(s.type for s in c.streams) == ["audio", "video"]
    [relaxed] = [e for e in open_store(demo_home).audit.entries()
                 if e["action"] == "batch.relaxed"]
    assert relaxed["details"] == {"audio": "strip -> keep"}


def test_a_clip_sent_to_check_is_blurred_as_usual_and_its_line_says_so(demo_home, tmp_path,
                                                                      monkeypatch):
    """Only photos go to the DSL to confirm who is in them: a clip sent with `--ask-dsl` is
    processed as any other, and comms staff are told so in its line rather than wait."""
    from safeguard.video.inputs import NOT_ASKED

    clip = _clip(tmp_path / "walk.mov", n=8)
    out = tmp_path / "ready"
    r = run_cli("--home", demo_home.root, "blur", clip, "--out", out, "--channel", "website",
                "--ask-dsl", "--json")
    [line] = json_lines(r.stdout)
    assert line["status"] == "exported" and NOT_ASKED in line["flags"], line
    assert (out / "walk.mp4").exists()
    monkeypatch.setenv("COLUMNS", "400")  # the whole line on one row of the table
    r = run_cli("--home", demo_home.root, "blur", clip, "--out", tmp_path / "again",
                "--channel", "website", "--ask-dsl")
    assert "clips are not sent for checking yet; blurred as usual" in r.output, r.output
