"""Finding 11: releasing a held photo redacted it with the plain redaction, while the preview and
`blur` use the checked one (the detector looks again and redacts again any face that still reads
as one). On a photo that needs that second look the released copy could show a face the preview
had covered. One function now makes both (redact.redact_chosen)."""

import shutil

import pytest
from support.helpers import json_lines, new_home, run_cli

from safeguard.detect import detect_faces
from safeguard.held import HeldQueue
from safeguard.images import load_image
from safeguard.metadata import encode_clean
from safeguard.redact import on_face, redact_chosen
from safeguard.review.decisions import face_boxes, previewed

# a blurred 48 px face that scores low in crops centred on it but that the whole detector finds
# again: plain redaction leaves it findable (tests/test_redaction_is_checked_by_the_detector.py)
PHOTO = "dl__2008_002079.jpg"


def test_a_release_is_the_checked_redaction_the_preview_showed(shared_testdata, tmp_path):
    home = new_home(tmp_path / "home")  # nobody enrolled: every face unknown
    src = tmp_path / "in" / PHOTO
    src.parent.mkdir()
    shutil.copy(shared_testdata / "groups" / PHOTO, src)
    r = run_cli("--home", home.root, "blur", src, "--out", tmp_path / "out", "--unknown", "hold",
                "--json", "--jobs", "1")
    [res] = json_lines(r.stdout)
    assert res["status"] == "held", r.output
    held_id = res["held_id"]
    q = HeldQueue(home.held_dir)
    rec, original = q.record(held_id), q.original(held_id)
    boxes, chosen = face_boxes(rec), previewed(rec)
    assert chosen
    ready = tmp_path / "ready"
    ready.mkdir()
    r = run_cli("--home", home.root, "review", "release", held_id, "--out", ready, "--json")
    assert r.exit_code == 0, r.output
    [released] = list(ready.iterdir())
    # exactly the preview's pixels, encoded as the release encodes them
    from safeguard.images import decode_image

    cfg_quality = 90
    expected = redact_chosen(decode_image(original).rgb, boxes, chosen, "blur", 1.5)
    assert released.read_bytes() == encode_clean(expected, "jpeg", cfg_quality)
    # and no redacted face is found there again
    out = load_image(released).rgb
    h, w = out.shape[:2]
    again = [g.box for g in detect_faces(out)]
    left = [boxes[i] for i in chosen if any(on_face(g, boxes[i], 1.5, w, h) for g in again)]
    assert left == [], left


@pytest.fixture
def shared_testdata(shared_testdata):
    if not (shared_testdata / "groups" / PHOTO).exists():
        pytest.skip(f"{PHOTO} not in the shared test data")
    return shared_testdata
