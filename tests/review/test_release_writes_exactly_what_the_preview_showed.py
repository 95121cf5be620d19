"""Releasing a held photo redacted it with the plain redaction, while the preview and
`blur` use the checked one (the detector looks again and redacts again any face that still reads
as one). On a photo that needs that second look the released copy could show a face the preview
had covered. One function now makes both (redact.redact_chosen).

Two photos that need the second look: the shared data's dl__2008_002079.jpg (when it is there),
and the bundled samples' faces, 30-60 px, on a clear sky, made at test time (a PNG, so the pixels
the check saw are the ones released).
"""

import shutil

import cv2
import numpy as np
import pytest
from conftest import SHARED_TESTDATA
from support.data import with_shared
from support.helpers import json_lines, new_home, run_cli
from support.synthetic import collage

from safeguard.detect import detect_faces
from safeguard.held import HeldQueue
from safeguard.images import load_image
from safeguard.metadata import encode_clean
from safeguard.redact import on_face, redact_chosen
from safeguard.review.decisions import face_boxes, previewed

pytestmark = pytest.mark.model

# a blurred 48 px face that scores low in crops centred on it but that the whole detector finds
# again: plain redaction leaves it findable (tests/test_redaction_is_checked_by_the_detector.py)
PHOTO = "dl__2008_002079.jpg"
HAVE_PHOTO = (SHARED_TESTDATA / "groups" / PHOTO).exists()


@pytest.fixture(params=with_shared(["samples"], ["shared"], present=HAVE_PHOTO))
def src(request, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    if request.param == "shared":
        return shutil.copy(SHARED_TESTDATA / "groups" / PHOTO, folder / PHOTO)
    rgb = collage(1400, 1000, widths=(30, 40, 50, 60), ground=(190, 210, 235))[0]
    cv2.imwrite(str(folder / "group.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder / "group.png"


def _found_again(out: np.ndarray, boxes, chosen) -> list:
    h, w = out.shape[:2]
    again = [g.box for g in detect_faces(out)]
    return [boxes[i] for i in chosen if any(on_face(g, boxes[i], 1.5, w, h) for g in again)]


def test_a_release_is_the_checked_redaction_the_preview_showed(src, tmp_path):
    home = new_home(tmp_path / "home")  # nobody enrolled: every face unknown
    r = run_cli("--home", home.root, "blur", src, "--out", tmp_path / "out", "--unknown", "hold",
                "--json", "--jobs", "1")
    [res] = json_lines(r.stdout)
    assert res["status"] == "held", r.output
    held_id = res["held_id"]
    q = HeldQueue(home.held_dir)
    rec, original = q.record(held_id), q.original(held_id)
    boxes, chosen = face_boxes(rec), previewed(rec)
    assert chosen
    # the photo needs the second look: plain redaction leaves a face the detector finds again
    from safeguard.images import decode_image
    from safeguard.redact import redact

    plain = redact(decode_image(original).rgb, [boxes[i] for i in chosen], "blur", 1.5)
    assert _found_again(plain, boxes, chosen)
    ready = tmp_path / "ready"
    ready.mkdir()
    r = run_cli("--home", home.root, "review", "release", held_id, "--out", ready, "--json")
    assert r.exit_code == 0, r.output
    [released] = list(ready.iterdir())
    # exactly the preview's pixels, encoded as the release encodes them
    cfg_quality = 90
    expected = redact_chosen(decode_image(original).rgb, boxes, chosen, "blur", 1.5)
    assert released.read_bytes() == encode_clean(expected, "jpeg", cfg_quality)
    # and no redacted face is found there again
    left = _found_again(load_image(released).rgb, boxes, chosen)
    assert left == [], left
