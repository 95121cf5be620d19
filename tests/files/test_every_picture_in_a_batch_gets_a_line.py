"""Every input gets a record. A .jxl file in a folder was passed over with no line at
all; a file that looks like a picture, by its name or by its first bytes, is now taken and, when
safeguard cannot read it, rejected with a reason. Files that look like no picture are skipped."""

import shutil

import pytest
from conftest import SAMPLES
from support.helpers import json_lines, run_cli

pytestmark = pytest.mark.model


def test_pictures_safeguard_cannot_read_are_rejected_with_a_reason(demo_home, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(SAMPLES / "photos" / "visit.jpg", batch / "visit.jpg")
    shutil.copy(SAMPLES / "photos" / "visit.jpg", batch / "no-extension")  # a JPEG by its bytes
    (batch / "award.jxl").write_bytes(b"\xff\x0a" + bytes(200))  # a JPEG XL codestream
    (batch / "scan.psd").write_bytes(b"8BPS" + bytes(100))
    (batch / "notes.txt").write_text("not a picture")
    (batch / "minutes.pdf").write_bytes(b"%PDF-1.7\n")
    r = run_cli("--home", demo_home.root, "scan", batch, "--json", "--jobs", "1")
    by = {line["input"].split("/")[-1]: line for line in json_lines(r.stdout)}
    assert set(by) == {"visit.jpg", "no-extension", "award.jxl", "scan.psd"}, r.output
    assert by["visit.jpg"]["status"] == "exported"
    assert by["no-extension"]["status"] == "exported"
    assert by["award.jxl"]["status"] == "rejected" and "JPEG XL" in by["award.jxl"]["error"]
    assert by["scan.psd"]["status"] == "rejected" and "Photoshop" in by["scan.psd"]["error"]
    assert r.exit_code == 4
