"""Every output is re-encoded from pixels: upright, and without EXIF, GPS, XMP, IPTC or
thumbnail, as read by exifread and by exiftool."""


import exifread
import numpy as np
import pytest
from PIL import Image
from support.helpers import HARMLESS_GROUPS, exiftool_groups, json_lines, new_home, run_cli

from safeguard.detect import detect_faces
from safeguard.images import load_image

pytestmark = pytest.mark.model


def _photo_with_gps(path, size=(1600, 1200)):
    """A faceless landscape-ish picture carrying camera EXIF, GPS and a caption."""
    rng = np.random.default_rng(7)
    sky = np.linspace(90, 230, size[1], dtype=np.float32)[:, None, None] * np.ones((1, size[0], 3))
    arr = np.clip(sky * [0.6, 0.8, 1.0] + rng.normal(0, 6, (size[1], size[0], 3)), 0, 255)
    im = Image.fromarray(arr.astype(np.uint8))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 12"
    exif[0x010E] = "Sports day"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (51.0, 30.0, 4.9), 3: "W", 4: (0.0, 8.0, 30.8)})
    im.save(path, "JPEG", exif=exif, quality=90, comment=b"taken at school")
    return path


def _assert_clean(path):
    with open(path, "rb") as f:
        assert exifread.process_file(f, details=True) == {}
    groups = exiftool_groups(path)
    if groups is None:
        pytest.skip("exiftool not installed (CI installs libimage-exiftool-perl)")
    assert groups <= HARMLESS_GROUPS, groups - HARMLESS_GROUPS


def test_photo_without_faces_is_exported_stripped(tmp_path):
    src = _photo_with_gps(tmp_path / "field.jpg")
    with open(src, "rb") as f:
        assert exifread.process_file(f)  # it really carries EXIF
    r = run_cli("--home", new_home(tmp_path / "home").root, "blur", src, "--out", tmp_path / "out", "--json",
                "--jobs", "1")
    assert r.exit_code == 0, r.output
    [res] = json_lines(r.stdout)
    assert res["status"] == "exported" and res["faces"] == []
    assert "GPS position removed" in res["metadata_removed"]
    assert "comment removed" in res["metadata_removed"]
    _assert_clean(res["output"])


def test_rotated_phone_photo_comes_out_upright_and_stripped(tmp_path, photos):
    r = run_cli("--home", new_home(tmp_path / "home").root, "blur", photos / "phone-rotated-gps.jpg", "--out",
                tmp_path / "out", "--unknown", "keep", "--json", "--jobs", "1")
    assert r.exit_code == 0, r.output
    [res] = json_lines(r.stdout)
    _assert_clean(res["output"])
    out = Image.open(res["output"])
    stored = Image.open(photos / "phone-rotated-gps.jpg")
    assert out.size == (stored.size[1], stored.size[0])  # orientation 6 turns it a quarter
    faces = detect_faces(load_image(res["output"]).rgb)
    assert len(faces) == 1
    lm = np.array(faces[0].landmarks)
    assert (lm[3][1] + lm[4][1]) / 2 > (lm[0][1] + lm[1][1]) / 2  # mouth below the eyes


def test_png_output_has_only_image_chunks(tmp_path, photos):
    r = run_cli("--home", new_home(tmp_path / "home").root, "blur", photos / "phone-rotated-gps.jpg", "--out",
                tmp_path / "out", "--format", "png", "--json", "--jobs", "1")
    [res] = json_lines(r.stdout)
    assert res["output"].endswith(".png")
    with open(res["output"], "rb") as f:
        data = f.read()
    chunks, i = [], 8
    while i < len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        chunks.append(data[i + 4 : i + 8])
        i += 12 + n
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}
    _assert_clean(res["output"])


def test_scan_reports_and_writes_nothing(tmp_path, photos):
    before = sorted(p.name for p in photos.iterdir())
    home = new_home(tmp_path / "home").root
    r = run_cli("--home", home, "scan", photos, "--json", "--jobs", "1")
    assert r.exit_code == 0, r.output
    results = json_lines(r.stdout)
    assert len(results) == 3 and all(x["output"] is None for x in results)
    assert sorted(p.name for p in photos.iterdir()) == before
    assert not any((home / "held").iterdir()) and not any((home / "rejected").iterdir())


def test_two_workers_give_the_same_results_as_one(tmp_path, photos, demo_home):
    outs = []
    for jobs in ("1", "2"):
        r = run_cli("--home", demo_home.root, "scan", photos, "--json", "--jobs", jobs)
        outs.append([(x["input"], x["status"], [(f["label"], f["action"]) for f in x["faces"]])
                     for x in json_lines(r.stdout)])
    assert outs[0] == outs[1]
