"""`safeguard find` lists every indexed published photo in which a pupil appears, with distance
and box, and writes a DSL-only contact sheet with the face outlined."""

from __future__ import annotations

import base64
import io
import re
import stat

import numpy as np
import pytest
from PIL import Image
from support.helpers import run_cli
from support.index_support import find_json, indexed_template, names_of

pytestmark = pytest.mark.model


def test_ada_is_found_in_her_photos_and_not_in_ben_only_photos(tmp_path_factory,
                                                               reference_encodings):
    home, _archive = indexed_template(tmp_path_factory, reference_encodings)
    ada = find_json(home, "P001")
    assert names_of(ada) == {"assembly.jpg", "visit.jpg", "phone-rotated-gps.jpg"}
    assert ada["photos_searched"] == 4 and ada["faces_searched"] == 5
    assert ada["tolerance"] == 0.6 and ada["unscanned"] == []
    for h in ada["hits"]:
        assert 0 <= h["distance"] <= 0.6
        x0, y0, x1, y1 = h["box"]
        assert 0 <= x0 < x1 and 0 <= y0 < y1
    by_name = {h["path"].rsplit("/", 1)[1]: h for h in ada["hits"]}
    # assembly.jpg: Ada stands on the left (x < 500 of 1126 px), Ben on the right
    assert by_name["assembly.jpg"]["box"][2] < 500 and len(by_name["assembly.jpg"]["faces"]) == 1

    ben = find_json(home, "P002")
    assert names_of(ben) == {"assembly.jpg", "ben-1.jpg"}
    assembly = next(h for h in ben["hits"] if h["path"].endswith("assembly.jpg"))
    assert assembly["box"][0] > 500


def test_tolerance_option_narrows_the_search(tmp_path_factory, reference_encodings):
    home, _ = indexed_template(tmp_path_factory, reference_encodings)
    close = find_json(home, "P001", "--tolerance", "0.2")
    # phone-rotated-gps.jpg is made from one of Ada's reference photos (distance ~0.08); the
    # others are different photos of her (~0.34)
    assert names_of(close) == {"phone-rotated-gps.jpg"}
    assert close["tolerance"] == 0.2


def test_contact_sheet_is_owner_only_dsl_only_and_outlines_the_face(tmp_path, tmp_path_factory,
                                                                    reference_encodings):
    home, _ = indexed_template(tmp_path_factory, reference_encodings)
    out = tmp_path / "sheets" / "ada.html"
    res = find_json(home, "P001", "--html", str(out))
    assert res["html"] == str(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    page = out.read_text(encoding="utf-8")
    head = page[: page.index("<div class=\"grid\">")]
    assert "DSL ONLY" in head
    assert "Ada" not in page and "Example" not in page  # the id only, never the name
    images = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(images) == 3
    for b64 in images:
        im = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert not im.getexif()  # thumbnails are fresh pixels: no EXIF, no GPS
        px = np.asarray(im.convert("RGB")).astype(int)
        red = (px[..., 0] > 200) & (px[..., 1] < 60) & (px[..., 2] < 60)
        assert red.sum() > 100  # the face is outlined in red


def test_plain_output_lists_distance_box_and_path(tmp_path_factory, reference_encodings):
    home, _ = indexed_template(tmp_path_factory, reference_encodings)
    r = run_cli("--home", home, "find", "--pupil", "P002")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert re.match(r"^0\.\d{3}  \[\d+, \d+, \d+, \d+\]  /.*ben-1\.jpg$", lines[0])
    assert lines[-1].startswith("2 photo(s) of P002 among 4 indexed photo(s)")


def test_find_refuses_clearly_without_index_or_encodings(demo_home, tmp_path_factory,
                                                         reference_encodings):
    r = run_cli("--home", demo_home.root, "find", "--pupil", "P001")
    assert r.exit_code == 1
    assert "no published-photo index yet" in r.stderr and "Traceback" not in r.output
    home, _ = indexed_template(tmp_path_factory, reference_encodings)
    r = run_cli("--home", home, "find", "--pupil", "P999")
    assert r.exit_code == 1 and "no pupil P999" in r.stderr


def test_contact_sheet_shows_markup_in_paths_and_errors_as_text(tmp_path):
    """The sheet is a Jinja2 template with autoescape: a published file named with markup, or
    one that cannot be read any more, is listed as text."""
    from safeguard.index import render_contact_sheet
    from safeguard.index.search import FaceHit, Hit

    gone = str(tmp_path / "<script>alert(1)</script>.jpg")
    page = render_contact_sheet("P<b>1", [Hit(gone, None, [FaceHit([1, 2, 3, 4], 0.31)])], 0.5,
                                7, [("<img src=x onerror=alert(2)>.jpg", "cannot <decode>")])
    assert "<script>" not in page and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in page
    assert "not readable now" in page and "distance 0.310" in page
    assert "Could not be scanned (1)" in page and "cannot &lt;decode&gt;" in page
    assert "1 photo(s) found among 7" in page
