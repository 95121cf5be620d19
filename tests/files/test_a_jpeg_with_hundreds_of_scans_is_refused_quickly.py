"""A progressive JPEG is decoded once per scan, and a hostile one can carry thousands
(seconds to minutes of decoding, in the watcher's own thread too). The scans are counted from the
markers before any pixel is decoded, and a file with more than MAX_JPEG_SCANS is rejected."""

import io

import numpy as np
import pytest
from PIL import Image
from support.helpers import json_lines, run_cli

from safeguard.images import MAX_JPEG_SCANS, decode_image, jpeg_scans

pytestmark = pytest.mark.model


def _progressive(repeat_last_scan: int = 0) -> bytes:
    rgb = (np.random.default_rng(0).random((240, 320, 3)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", progressive=True, quality=85)
    data = buf.getvalue()
    eoi = data.rfind(b"\xff\xd9")
    last = data[data.rfind(b"\xff\xda", 0, eoi):eoi]  # a refinement scan, valid to repeat
    return data[:eoi] + last * repeat_last_scan + b"\xff\xd9"


def test_scans_are_counted_from_the_markers():
    normal = _progressive()
    assert 2 <= jpeg_scans(normal) <= 20
    assert jpeg_scans(_progressive(200)) == jpeg_scans(normal) + 200
    decode_image(normal)  # an ordinary progressive JPEG still decodes


def test_a_jpeg_with_too_many_scans_is_rejected_with_the_reason(demo_home, tmp_path):
    evil = tmp_path / "batch" / "evil.jpg"
    evil.parent.mkdir()
    evil.write_bytes(_progressive(MAX_JPEG_SCANS + 50))
    r = run_cli("--home", demo_home.root, "scan", evil.parent, "--json", "--jobs", "1")
    [res] = json_lines(r.stdout)
    assert res["status"] == "rejected" and "scans" in res["error"], res


def test_the_watcher_does_not_decode_it_in_its_own_process(tmp_path, monkeypatch):
    # the settle check runs in the watcher's main process: a file the pipeline would refuse is
    # "complete" without being decoded (the pipeline then rejects it with the reason)
    from PIL import Image as PILImage

    from safeguard import watch

    evil = tmp_path / "evil.jpg"
    evil.write_bytes(_progressive(MAX_JPEG_SCANS + 50))
    loads = []
    real_load = PILImage.Image.load
    monkeypatch.setattr(PILImage.Image, "load", lambda self: loads.append(1) or real_load(self))
    assert watch.quick_decodes(evil) is True
    assert loads == []
    normal = tmp_path / "normal.jpg"
    normal.write_bytes(_progressive())
    assert watch.quick_decodes(normal) is True and loads
    # a copy still in progress is not whole, even after face_recognition allowed truncated images
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(_progressive()[:-500])
    assert watch.quick_decodes(cut) is False
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # put back as it was
