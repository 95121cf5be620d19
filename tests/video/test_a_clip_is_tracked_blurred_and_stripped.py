"""A phone clip panning over a real photo: the restricted pupil's face is covered in every frame,
the consenting pupil's face is kept, and nothing of the phone's container survives."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import SAMPLES
from support.clips import Motion, camera_frames, write_phone_clip

pytestmark = pytest.mark.model

FPS = 30


def _job(home, out, unknown="redact"):
    from support.helpers import open_store

    from safeguard.config import Config
    from safeguard.pipeline import Job

    store = open_store(home)
    cfg = Config(unknown=unknown)
    return Job(config=cfg, channel="social",
               matrix=store.match_matrix("social"), out_dir=out, held_dir=home.held_dir,
               names=("Ada Example", "Ben Example"),
               people=(("P001", "Ada Example"), ("P002", "Ben Example")))


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory):
    from safeguard.images import load_image

    photo = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    frames = list(camera_frames(photo, (960, 540), 45, Motion(pan=0.2, shake=1.5, centre=0.4)))
    path = tmp_path_factory.mktemp("clips") / "IMG_0042.MOV.mp4"
    return write_phone_clip(path, frames, FPS, rotation=90), frames


def _faces_by_frame(path):
    """Per frame of a written clip, the encodings of the faces the detector finds."""
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces
    from safeguard.video.clip import frames, probe

    out = []
    info = probe(path)
    for rgb in frames(path, info):
        faces = detect_faces(rgb)
        out.append(encode_faces(rgb, faces) if faces else np.zeros((0, 128)))
    return out


def test_restricted_face_is_covered_in_every_frame_and_consenting_face_kept(
        demo_home, phone_clip, tmp_path, reference_encodings):
    from safeguard.video.process import process_clip

    clip, source = phone_clip
    out = tmp_path / "ready"
    out.mkdir()
    outcome = process_clip(clip, _job(demo_home, out))
    public = outcome.public()
    assert public["status"] == "exported", public
    assert public["kind"] == "video"
    labels = {t["label"] for t in public["tracks"]}
    assert {"restricted", "cleared"} <= labels, public["tracks"]
    written = out / "img_0042.mov.mp4"
    assert outcome.output == str(written) and written.exists()
    assert [p.name for p in out.iterdir()] == [written.name]  # no temp file left

    ada = np.array(reference_encodings["ada"])
    ben = np.array(reference_encodings["ben"])
    per_frame = _faces_by_frame(written)
    assert len(per_frame) == len(source)
    ada_seen = [i for i, enc in enumerate(per_frame)
                if len(enc) and np.min(np.linalg.norm(enc[:, None] - ada[None], axis=2)) <= 0.6]
    assert ada_seen == [], f"the restricted face can be matched in frames {ada_seen}"
    ben_kept = sum(1 for enc in per_frame
                   if len(enc) and np.min(np.linalg.norm(enc[:, None] - ben[None], axis=2)) <= 0.5)
    assert ben_kept >= 0.9 * len(source), f"consenting face kept in {ben_kept} of {len(source)}"


@pytest.mark.skipif(not shutil.which("ffprobe") or not shutil.which("exiftool"),
                    reason="ffprobe and exiftool check the container independently")
def test_nothing_of_the_phones_container_is_left(demo_home, phone_clip, tmp_path):
    from safeguard.video.process import process_clip

    clip, _ = phone_clip
    before = subprocess.run(["exiftool", "-a", "-G1", "-s", str(clip)], check=True,
                            capture_output=True, text=True).stdout
    assert "iPhone" in before and "GPS" in before  # the phone's atoms are there to remove
    out = tmp_path / "ready"
    out.mkdir()
    outcome = process_clip(clip, _job(demo_home, out))
    assert outcome.status == "exported", outcome.public()
    written = outcome.output
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters",
         "-of", "json", written], capture_output=True, text=True, check=True).stdout)
    assert [s["codec_type"] for s in probe["streams"]] == ["video"]  # the sound is stripped
    assert probe["chapters"] == []
    tags = probe["format"].get("tags", {})
    assert set(tags) <= {"major_brand", "minor_version", "compatible_brands"}, tags
    side = probe["streams"][0].get("side_data_list", [])
    assert not any(d.get("rotation") for d in side)  # the pixels are upright, no flag
    assert (probe["streams"][0]["width"], probe["streams"][0]["height"]) == (960, 540)
    after = subprocess.run(["exiftool", "-a", "-G1", "-s", written], check=True,
                           capture_output=True, text=True).stdout
    # what the file holds, not what the file system or exiftool says about it
    after = "\n".join(line for line in after.splitlines()
                      if not line.startswith(("[System]", "[ExifTool]", "[File]")))
    # (FFmpeg's empty metadata box names "Apple" as its handler's vendor: boilerplate, no value)
    for word in ("GPS", "iPhone", "Make", "Model", "Software", "17.4", "Title", "Sports",
                 "2026", "ContentCreateDate", "Encoder", "Lavf", "Audio"):
        assert word not in after, f"{word} left in the clip:\n{after}"
