"""A clip held for the DSL in a review home (tests/support/review_support.py: Ada, on the CP
register, and Ben, consenting, both in it), made from the samples' assembly photo."""

from __future__ import annotations

from pathlib import Path

from conftest import SAMPLES

from support.clips import Motion, camera_frames, write_phone_clip
from support.helpers import open_store

FPS = 15
FRAMES = 24


def make_clip(path: Path) -> Path:
    from safeguard.images import load_image

    photo = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    frames = camera_frames(photo, (640, 360), FRAMES, Motion(pan=0.1, shake=1.0, centre=0.4))
    return write_phone_clip(path, frames, FPS)


def hold_clip(home, work: Path):
    """The clip processed for `social` in `home`: held (Ada is on a register). Returns the
    outcome."""
    from safeguard.config import Config
    from safeguard.pipeline import Job
    from safeguard.video.process import process_clip

    store = open_store(home)
    cfg = Config()
    job = Job(config=cfg, channel="social",
              matrix=store.match_matrix("social"), held_dir=home.held_dir,
              names=("Ada Example", "Ben Example"),
              people=(("P001", "Ada Example"), ("P002", "Ben Example")), threads=2)
    work.mkdir(parents=True, exist_ok=True)
    clip = make_clip(work / "IMG_0007.mp4")
    outcome = process_clip(clip, job)
    assert outcome.status == "held", outcome.public()
    return outcome
