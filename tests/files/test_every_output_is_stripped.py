"""`safeguard blur` over a corpus of files carrying metadata: every output is checked by our own
container walk, Pillow, exifread and exiftool, comes out upright, and what was removed is said.

Two corpora. "planted", made at test time from the public-domain samples (tests/support/planted.py):
EXIF with GPS, camera, author and a thumbnail of the face, XMP, IPTC, ICC, a JPEG comment, PNG text
chunks, WebP, TIFF and HEIC containers, every EXIF orientation, and broken files; a pupil's name is
planted wherever text can go. "shared", the shared test data's derived/, metadata/ and broken/
folders when they are there (tests/support/data.py): real camera, phone and ExifTool sample files
carrying MakerNotes, extended XMP, Photoshop IRB, MPF previews, EXIF thumbnails (one shows a face),
GIF and BMP too.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_TESTDATA
from PIL import Image
from support.data import with_shared
from support.helpers import json_lines, new_home, run_cli
from support.planted import ORIENTATIONS, SECRET, build_planted
from support.stripped_checks import (
    EXIFTOOL,
    EXIFTOOL_MISSING,
    assert_clean_file,
    exiftool_leftovers,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]

FOLDERS = ("derived", "metadata", "broken")
SHARED_BROKEN = {"obama2_png_named_jpg.jpg": "exported", "cf__corrupted.png": "rejected",
                 "cf__empty.png": "rejected", "cf__truncated.jpg": "rejected",
                 "et__QuickTime.heic": "rejected", "obama2_truncated60.jpg": "rejected",
                 "obama2_zero_bytes.jpg": "rejected"}


def _shared_expectations() -> dict[str, dict]:
    out = {}
    for r in csv.DictReader((SHARED_TESTDATA / "manifest.csv").open(encoding="utf-8")):
        folder, name = r["path"].split("/", 1)
        if folder not in FOLDERS:
            continue
        broken = folder == "broken"
        out[r["path"]] = {"status": SHARED_BROKEN[name] if broken else "exported",
                          "gps": r["has_gps"] == "yes", "exif": r["has_exif"] == "yes",
                          "broken": broken}
    return out


@pytest.fixture(scope="module", params=with_shared(["planted"], ["shared"]))
def run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"every-output-{request.param}")
    if request.param == "planted":
        base = root / "planted"
        expect = build_planted(base)
        inputs = [base]
        orientations, secret = ORIENTATIONS, SECRET
    else:
        base = SHARED_TESTDATA
        expect = _shared_expectations()
        inputs = [SHARED_TESTDATA / f for f in FOLDERS]
        # recurser/exif-orientation-examples: Landscape_1..8 store one picture turned and mirrored
        # (0 is an invalid tag: as is)
        orientations = [f"metadata/eo__Landscape_{n}.jpg" for n in (1, 2, 3, 4, 5, 6, 7, 8, 0)]
        secret = None
    out = root / "out"
    # a school with nobody enrolled: every face is unknown and redacted (the default), so every
    # decodable photo is exported and can be checked
    result = run_cli("--home", new_home(root / "home").root, "blur", *inputs, "--out", out,
                     "--json", "--jobs", "2")
    lines = {str(Path(x["input"]).relative_to(base)): x for x in json_lines(result.stdout)}
    return {"kind": request.param, "result": result, "lines": lines, "expect": expect,
            "out": out, "orientations": orientations, "secret": secret}


def test_every_input_has_one_outcome_and_no_traceback(run):
    r = run["result"]
    assert "Traceback" not in r.stdout and "Traceback" not in r.stderr
    assert sorted(run["lines"]) == sorted(run["expect"])
    assert len(json_lines(r.stdout)) == len(run["expect"])
    for path, line in run["lines"].items():
        assert "internal error" not in (line["error"] or ""), (path, line["error"])
        assert line["status"] == run["expect"][path]["status"], (path, line["error"])


def test_broken_files_are_rejected_or_exported_by_content(run):
    broken = {p: e for p, e in run["expect"].items() if e.get("broken")}
    assert len(broken) >= 4
    assert {run["lines"][p]["status"] for p in broken} == {"exported", "rejected"}
    for path, e in broken.items():
        line = run["lines"][path]
        assert line["status"] == e["status"], path
        if e["status"] == "rejected":
            assert line["output"] is None and line["error"], path


def test_every_output_passes_our_checks_pillow_and_exifread(run):
    outputs = [Path(x["output"]) for x in run["lines"].values() if x["output"]]
    assert len(outputs) == sum(e["status"] == "exported" for e in run["expect"].values())
    failures = []
    for path in outputs:
        try:
            assert_clean_file(path)
            if run["secret"]:
                assert run["secret"].encode() not in path.read_bytes(), "the planted name"
        except AssertionError as e:
            failures.append(f"{path.name}: {e}")
    assert not failures, "\n".join(failures)
    assert sorted(run["out"].iterdir()) == sorted(outputs)


def test_every_output_is_clean_for_exiftool(run):
    if EXIFTOOL is None:
        pytest.skip(EXIFTOOL_MISSING)
    outputs = [Path(x["output"]) for x in run["lines"].values() if x["output"]]
    assert exiftool_leftovers(outputs) == {}


def test_what_was_removed_is_reported(run):
    gps = [p for p, e in run["expect"].items() if e["gps"] and e["status"] == "exported"]
    assert gps
    for path, e in run["expect"].items():
        line = run["lines"][path]
        if line["status"] != "exported":
            continue
        removed = " ".join(line["metadata_removed"])
        if e["gps"]:
            assert "GPS position removed" in removed, path
        if e["exif"]:
            assert removed, path


def test_every_orientation_comes_out_upright(run):
    """The same picture stored for EXIF orientations 1 to 8: applied correctly, every output
    matches orientation 1's."""

    def rgb(name: str) -> np.ndarray:
        return np.asarray(Image.open(run["lines"][name]["output"]).convert("RGB")).astype(np.int16)

    reference = rgb(run["orientations"][0])
    for name in run["orientations"]:
        got = rgb(name)
        assert got.shape == reference.shape, name
        assert np.abs(got - reference).mean() < 4, name
    assert np.abs(reference[:, ::-1] - reference).mean() > 20  # mirror images do differ
