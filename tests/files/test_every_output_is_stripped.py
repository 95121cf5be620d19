"""`safeguard blur` over the shared test data's derived/, metadata/ and broken/ folders: every
output is checked by our own container walk, Pillow, exifread and exiftool.

derived/ and metadata/ are real camera, phone and ExifTool sample files carrying EXIF, GPS,
MakerNotes, XMP (also extended), IPTC, Photoshop IRB, ICC, MPF previews, EXIF thumbnails (one shows
a face), PNG text chunks, HEIC/WebP/TIFF/GIF/BMP containers. Skipped when the shared data is absent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.helpers import json_lines, new_home, run_cli
from support.stripped_checks import (
    EXIFTOOL,
    EXIFTOOL_MISSING,
    assert_clean_file,
    exiftool_leftovers,
)

FOLDERS = ("derived", "metadata", "broken")


@pytest.fixture(scope="module")
def run(shared_testdata, tmp_path_factory):
    root = tmp_path_factory.mktemp("every-output")
    out = root / "out"
    # a school with nobody enrolled: every face is unknown and redacted (the default), so every
    # decodable photo is exported and can be checked
    result = run_cli(
        "--home", new_home(root / "home").root, "blur", *(shared_testdata / f for f in FOLDERS),
        "--out", out, "--json", "--jobs", "2",
    )  # fmt: skip
    manifest = {
        r["path"]: r
        for r in csv.DictReader((shared_testdata / "manifest.csv").open(encoding="utf-8"))
        if r["path"].split("/")[0] in FOLDERS
    }
    lines = {str(Path(x["input"]).relative_to(shared_testdata)): x for x in json_lines(result.stdout)}
    return {"result": result, "lines": lines, "manifest": manifest, "out": out}


def test_every_input_has_one_outcome_and_no_traceback(run):
    r = run["result"]
    assert "Traceback" not in r.stdout and "Traceback" not in r.stderr
    assert sorted(run["lines"]) == sorted(run["manifest"])
    assert len(json_lines(r.stdout)) == len(run["manifest"])
    for path, line in run["lines"].items():
        assert line["status"] in ("exported", "rejected"), (path, line["status"])
        assert "internal error" not in (line["error"] or ""), (path, line["error"])
        if not path.startswith("broken/"):
            assert line["status"] == "exported", (path, line["error"])


def test_broken_files_are_rejected_or_exported_by_content(run):
    lines = run["lines"]
    assert lines["broken/obama2_png_named_jpg.jpg"]["status"] == "exported"  # a PNG named .jpg
    for name in ("cf__corrupted.png", "cf__empty.png", "cf__truncated.jpg", "et__QuickTime.heic",
                 "obama2_truncated60.jpg", "obama2_zero_bytes.jpg"):  # fmt: skip
        assert lines[f"broken/{name}"]["status"] == "rejected", name


def test_every_output_passes_our_checks_pillow_and_exifread(run):
    outputs = [Path(x["output"]) for x in run["lines"].values() if x["output"]]
    assert len(outputs) >= 40
    failures = []
    for path in outputs:
        try:
            assert_clean_file(path)
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
    for path, row in run["manifest"].items():
        line = run["lines"][path]
        if line["status"] != "exported":
            continue
        removed = " ".join(line["metadata_removed"])
        if row["has_gps"] == "yes":
            assert "GPS position removed" in removed, path
        if row["has_exif"] == "yes":
            assert removed, path


def test_real_orientation_examples_come_out_upright(run):
    """recurser/exif-orientation-examples: Landscape_2..8 store the same picture turned and
    mirrored; applied correctly, every one matches Landscape_1 (0 is an invalid tag: as is)."""

    def rgb(n: int) -> np.ndarray:
        line = run["lines"][f"metadata/eo__Landscape_{n}.jpg"]
        return np.asarray(Image.open(line["output"]).convert("RGB")).astype(np.int16)

    reference = rgb(1)
    for n in range(9):
        got = rgb(n)
        assert got.shape == reference.shape, n
        assert np.abs(got - reference).mean() < 4, n
    assert np.abs(reference[:, ::-1] - reference).mean() > 20  # mirror images do differ
