"""A clip held for the DSL: its page plays it with the tracks outlined and labelled and shows each
track's best frames with its decision; the DSL releases it with per-track choices through the same
checks as a photo (audit first, a fresh verified file, the original destroyed)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from support.held_clip import FRAMES, hold_clip
from support.helpers import min_distance, open_store
from support.review_support import DSL, client, copy_home, csrf_of, review_template, sign_in

pytestmark = pytest.mark.model


@pytest.fixture
def held_clip(tmp_path, tmp_path_factory, reference_encodings):
    template, _ = review_template(tmp_path_factory, reference_encodings)
    home = copy_home(template, tmp_path / "home")
    (tmp_path / "ready").mkdir()
    outcome = hold_clip(home, tmp_path / "clips")
    return home, outcome


def _frames(data: bytes) -> list[np.ndarray]:
    import av

    with av.open(io.BytesIO(data)) as c:
        assert [s.type for s in c.streams] == ["video"]
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_the_held_clip_keeps_where_each_track_is_sealed_with_its_record(held_clip):
    from safeguard.held import HeldQueue

    home, outcome = held_clip
    rec = HeldQueue(home.held_dir).record(outcome.held_id)
    assert rec["kind"] == "video" and rec["frames"] == FRAMES
    assert len(rec["tracks"]) == len(rec["faces"]) >= 2
    for t in rec["tracks"]:
        assert t["hits"] and t["best"]
    assert b"P001" not in (home.held_dir / outcome.held_id / "record.json").read_bytes()


def test_the_page_plays_the_clip_with_its_tracks_and_their_best_frames(held_clip):
    home, outcome = held_clip
    c = client(home)
    held_id = outcome.held_id
    assert c.get(f"/clip/{held_id}/annotated.mp4").status_code == 401  # no session
    sign_in(c)
    page = c.get(f"/held/{held_id}")
    assert page.status_code == 200
    assert f'src="/clip/{held_id}/annotated.mp4"' in page.text
    assert "Ada Example" in page.text and "keep track 1 blurred" in page.text
    video = c.get(f"/clip/{held_id}/annotated.mp4")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    frames = _frames(video.content)
    assert len(frames) == FRAMES
    part = c.get(f"/clip/{held_id}/annotated.mp4", headers={"range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == video.content[:100]
    assert len(_frames(c.get(f"/clip/{held_id}/preview.mp4").content)) == FRAMES
    from PIL import Image

    for n in range(1, len(outcome.tracks) + 1):
        strip = c.get(f"/clip/{held_id}/track/{n}.jpg")
        assert strip.status_code == 200
        assert Image.open(io.BytesIO(strip.content)).height > 100
    assert c.get(f"/clip/{held_id}/track/99.jpg").status_code == 404
    assert c.get(f"/clip/{held_id}/other.mp4").status_code == 404


def test_releasing_with_a_track_left_blurred_covers_it_and_keeps_the_rest(
        held_clip, tmp_path, reference_encodings):
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces

    home, outcome = held_clip
    held_id = outcome.held_id
    c = client(home)
    sign_in(c)
    page = c.get(f"/held/{held_id}")
    ada = [i for i, t in enumerate(outcome.tracks) if t.decision.pupil == "P001"]
    assert ada, [t.decision for t in outcome.tracks]
    others = [i for i in range(len(outcome.tracks)) if i not in ada]  # Ada left unblurred
    # leaving a restricted track unblurred needs a reason
    resp = c.post(f"/held/{held_id}/release", data={
        "csrf": csrf_of(page.text), "mode": "choices", "folder": "0",
        "redact": [str(i) for i in others]})
    assert resp.status_code == 303 and "error=" in resp.headers["location"]
    from safeguard.held import HeldQueue
    from safeguard.review.decisions import previewed

    planned = previewed(HeldQueue(home.held_dir).record(held_id))
    assert set(ada) <= planned
    resp = c.post(f"/held/{held_id}/release", data={
        "csrf": csrf_of(page.text), "mode": "choices", "folder": "0",
        "redact": [str(i) for i in sorted(planned)]})
    assert resp.status_code == 303 and resp.headers["location"] == "/", resp.headers
    [out] = list((tmp_path / "ready").iterdir())
    assert out.suffix == ".mp4" and not out.name.startswith(".")
    frames = _frames(out.read_bytes())
    assert len(frames) == FRAMES
    ada_enc, ben_enc = reference_encodings["ada"], reference_encodings["ben"]
    ben_seen = 0
    for rgb in frames:
        faces = detect_faces(rgb)
        encodings = encode_faces(rgb, faces) if faces else []
        assert all(min_distance(e, ada_enc) > 0.6 for e in encodings)
        ben_seen += any(min_distance(e, ben_enc) <= 0.5 for e in encodings)
    assert ben_seen >= 0.9 * FRAMES
    entries = open_store(home).audit.entries(pupil="P001")
    [entry] = [e for e in entries if e["action"] == "held.release"]
    assert entry["actor"] == DSL and entry["details"]["decision"] == "redacted"
    assert not (home.held_dir / held_id / "original").exists()
    assert c.get(f"/clip/{held_id}/annotated.mp4").status_code == 404  # decided: nothing drawn
