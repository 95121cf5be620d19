"""A clip held for the DSL on a channel that needs sign-off: its release is written and checked as
any clip's release is, then waits in a post as a photo's does. The approver plays it on the
sign-off page (a video element, not a picture) and reads it in words in `approvals show`; once
approved it lands in ready, with the restricted pupil covered in every frame. The DSL who signs
off may release and approve at once. Nothing comms staff see names a pupil."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from support.held_clip import FRAMES, hold_clip
from support.helpers import TEST_PASSWORD, accept_settings, min_distance, open_store, run_cli_as
from support.review_support import DSL, client, copy_home, csrf_of, review_template, sign_in

pytestmark = pytest.mark.model

SLT = "test-slt"


@pytest.fixture
def held_clip(tmp_path, tmp_path_factory, reference_encodings):
    template, _ = review_template(tmp_path_factory, reference_encodings)
    home = copy_home(template, tmp_path / "home")
    (tmp_path / "ready").mkdir()
    home.config_file.write_text('release_folders = ["%s"]\n[approval]\nsocial = "slt"\n'
                                % (tmp_path / "ready"))
    accept_settings(home)
    open_store(home).add_staff(SLT, "slt", TEST_PASSWORD, actor="test")
    outcome = hold_clip(home, tmp_path / "clips")
    return home, outcome, tmp_path / "ready"


def _app(home, ready: Path):
    from safeguard.config import Config

    return client(home, Config(release_folders=(str(ready),), approval={"social": "slt"}))


def _frames(data: bytes) -> list[np.ndarray]:
    import av

    with av.open(io.BytesIO(data)) as c:
        assert [s.type for s in c.streams] == ["video"]  # no sound, no data streams
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _ada_covered_in_every_frame(data: bytes, reference_encodings) -> None:
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces

    frames = _frames(data)
    assert len(frames) == FRAMES
    ada = reference_encodings["ada"]
    for rgb in frames:
        faces = detect_faces(rgb)
        encodings = encode_faces(rgb, faces) if faces else []
        assert all(min_distance(e, ada) > 0.6 for e in encodings)


def _comms_sees(home, post: str) -> str:
    r = run_cli_as("test-comms", "--home", home.root, "approvals", "status", post, "--json")
    assert r.exit_code == 0, r.output
    return r.stdout


def test_a_released_clip_waits_in_a_post_and_lands_once_approved(held_clip,
                                                                 reference_encodings):
    from safeguard import approvals
    from safeguard.held import HeldQueue

    home, outcome, ready = held_clip
    held_id = outcome.held_id
    c = _app(home, ready)
    sign_in(c)
    page = c.get(f"/held/{held_id}")
    assert "need sign-off" in page.text and 'value="redacted-approve"' in page.text
    resp = c.post(f"/held/{held_id}/release", data={
        "csrf": csrf_of(page.text), "mode": "redacted", "folder": "0"})
    assert resp.status_code == 303 and resp.headers["location"] == "/", resp.headers
    assert not any(ready.iterdir())  # not published: waiting
    tomb = HeldQueue(home.held_dir).record(held_id)
    assert tomb["state"] == "released" and tomb["post"]
    assert not (home.held_dir / held_id / "original").exists()
    [post] = approvals.pending(home, scope=None)
    [(name, data)] = approvals.copies(home, post)
    assert name.endswith(".mp4") and "Ada" not in name and "Ben" not in name
    [entry] = [e for e in open_store(home).audit.entries(pupil="P001")
               if e["action"] == "held.release"]
    assert entry["actor"] == DSL and entry["details"]["sign_off"] == "awaiting approval"

    shown = _comms_sees(home, post["id"])
    assert json.loads(shown)["state"] == "awaiting approval"
    assert "Ada" not in shown and "Ben" not in shown and "P00" not in shown

    # the approver plays it: a video element, the file as it would be published
    r = run_cli_as(SLT, "--home", home.root, "approvals", "show", post["id"])
    assert r.exit_code == 0, r.output
    assert f"{name} (a clip of 1.6 seconds, 640x360, no sound," in r.stdout, r.stdout
    slt = _app(home, ready)
    sign_in(slt, SLT, TEST_PASSWORD)
    listing = slt.get("/approvals")
    assert f'<video class="thumb" src="/approvals/{post["id"]}/copy/0.mp4"' in listing.text
    shown_page = slt.get(f"/approvals/{post['id']}")
    assert f'src="/approvals/{post["id"]}/copy/0.mp4"' in shown_page.text
    assert "<img" not in shown_page.text.split("<h2>")[1]
    assert "Ada" not in shown_page.text and "register" not in shown_page.text.lower()
    video = slt.get(f"/approvals/{post['id']}/copy/0.mp4")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == data
    part = slt.get(f"/approvals/{post['id']}/copy/0.mp4", headers={"range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == data[:100]
    assert slt.get(f"/approvals/{post['id']}/copy/0.jpg").status_code == 404
    assert slt.get(f"/approvals/{post['id']}/copy/1.mp4").status_code == 404
    assert _app(home, ready).get(f"/approvals/{post['id']}/copy/0.mp4").status_code == 401

    r = slt.post(f"/approvals/{post['id']}/approve",
                 data={"csrf": csrf_of(shown_page.text), "note": ""})
    assert r.status_code == 303 and r.headers["location"] == "/approvals", r.headers
    [out] = list(ready.iterdir())
    assert out.name == name
    _ada_covered_in_every_frame(out.read_bytes(), reference_encodings)
    shown = _comms_sees(home, post["id"])
    assert json.loads(shown)["state"] == "approved"
    assert "Ada" not in shown and "Ben" not in shown and "P00" not in shown
    assert slt.get(f"/approvals/{post['id']}/copy/0.mp4").status_code == 404  # decided


def test_the_dsl_may_release_a_clip_and_approve_it_at_once(held_clip, reference_encodings):
    home, outcome, ready = held_clip
    r = run_cli_as("test-dsl", "--home", home.root, "review", "release", outcome.held_id,
                   "--out", ready, "--approve", "--json")
    assert r.exit_code == 0, r.output
    done = json.loads(r.stdout)
    assert done["approval"] and done["output"]
    [out] = list(ready.iterdir())
    assert out.suffix == ".mp4" and str(out) == done["output"]
    _ada_covered_in_every_frame(out.read_bytes(), reference_encodings)
    actions = [e["action"] for e in open_store(home).audit.entries()]
    assert "held.release" in actions and "approval.approved" in actions
