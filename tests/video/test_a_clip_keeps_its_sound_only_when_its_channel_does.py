"""A clip's sound: stripped unless its channel keeps it; kept, it is the only thing of the input's
sound carried (encoded afresh as AAC, no longer than the picture), and the container still holds
nothing beyond the allow-list (checked here by ffprobe and exiftool as well)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import SAMPLES
from support.clips import Motion, camera_frames, write_phone_clip

pytestmark = pytest.mark.model

FPS = 15
FRAMES = 20


@pytest.fixture(scope="module")
def clip_with_sound(tmp_path_factory):
    from safeguard.images import load_image

    photo = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    path = tmp_path_factory.mktemp("clips") / "IMG_0100.mp4"
    return write_phone_clip(path, camera_frames(photo, (640, 360), FRAMES,
                                                Motion(pan=0.1, centre=0.4)), FPS)


def _job(home, out, audio, cfg=None):
    from support.helpers import open_store

    from safeguard.config import Config
    from safeguard.pipeline import Job

    cfg = cfg or Config()
    return Job(config=cfg, channel="social",
               matrix=open_store(home).match_matrix("social"), out_dir=out,
               held_dir=home.held_dir, audio=audio, threads=2)


def _streams(path) -> list[str]:
    import av

    with av.open(str(path)) as c:
        return sorted(s.type for s in c.streams)


def test_a_channel_set_to_keep_sound_gets_fresh_aac_no_longer_than_the_picture(
        demo_home, clip_with_sound, tmp_path):
    import av

    from safeguard.config import Config
    from safeguard.video.process import process_clip

    out = tmp_path / "ready"
    out.mkdir()
    cfg = Config(audio={"social": "keep"}).check()  # the batch makes no choice of its own
    outcome = process_clip(clip_with_sound, _job(demo_home, out, None, cfg))
    assert outcome.status == "exported", outcome.public()
    assert _streams(outcome.output) == ["audio", "video"]
    assert "sound" not in outcome.removed[0].split("(")[1]
    with av.open(outcome.output) as c:
        a, v = c.streams.audio[0], c.streams.video[0]
        assert a.codec_context.name == "aac"
        samples = sum(f.samples for f in c.decode(audio=0))
    # the encoder's priming frame and the last frame's padding: 2 x 1024 samples at most
    assert samples <= FRAMES / FPS * a.codec_context.sample_rate + 2048
    assert samples >= 0.9 * FRAMES / FPS * a.codec_context.sample_rate
    assert v.frames in (0, FRAMES)


def test_sound_is_stripped_by_default(demo_home, clip_with_sound, tmp_path):
    from safeguard.video.process import process_clip

    out = tmp_path / "ready"
    out.mkdir()
    outcome = process_clip(clip_with_sound, _job(demo_home, out, None))
    assert outcome.status == "exported", outcome.public()
    assert _streams(outcome.output) == ["video"]
    assert "sound" in outcome.removed[0]


@pytest.mark.skipif(not shutil.which("ffprobe") or not shutil.which("exiftool"),
                    reason="ffprobe and exiftool check the container independently")
def test_a_clip_with_its_sound_kept_carries_nothing_else(demo_home, clip_with_sound, tmp_path):
    from safeguard.video.process import process_clip

    out = tmp_path / "ready"
    out.mkdir()
    outcome = process_clip(clip_with_sound, _job(demo_home, out, "keep"))
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters",
         "-of", "json", outcome.output], capture_output=True, text=True, check=True).stdout)
    assert sorted(s["codec_type"] for s in probe["streams"]) == ["audio", "video"]
    assert probe["chapters"] == []
    assert set(probe["format"].get("tags", {})) <= {"major_brand", "minor_version",
                                                     "compatible_brands"}
    for s in probe["streams"]:
        assert set(s.get("tags", {})) <= {"language", "handler_name", "vendor_id"}, s["tags"]
    after = subprocess.run(["exiftool", "-a", "-G1", "-s", outcome.output], check=True,
                           capture_output=True, text=True).stdout
    after = "\n".join(line for line in after.splitlines()
                      if not line.startswith(("[System]", "[ExifTool]", "[File]")))
    for word in ("GPS", "iPhone", "Make", "Model", "Software", "17.4", "Title", "Sports",
                 "2026", "Encoder", "Lavf", "Lavc"):
        assert word not in after, f"{word} left in the clip:\n{after}"
