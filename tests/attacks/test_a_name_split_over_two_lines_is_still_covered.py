"""A pupil's name written on two lines, the first name above the surname ("Ada" / "Example", as
a certificate or a name card sets it) or the surname above ("EXAMPLE" / "Ada"), left-aligned or
centred, was read as two lines each naming nobody and exported readable. Lines stacked one above
the other, of similar height and overlapping across, are now read together: every line of the
name is covered, and a register pupil's name so written holds the photo like their face. A first
name alone on a sign is still left."""

from __future__ import annotations

import pytest
from support.helpers import open_store
from support.signs import blur, signed_photo, tesseract_reads, texts_in

from safeguard.pipeline import TEXT_COVERED

pytestmark = pytest.mark.model


@pytest.mark.parametrize("sign, align", [("Ada\nExample", "left"),
                                         ("EXAMPLE\nAda", "left"),
                                         ("Ada\nExample", "center")])
def test_a_name_on_two_lines_is_covered_and_cannot_be_read_afterwards(demo_home, tmp_path,
                                                                     sign, align):
    src = signed_photo(tmp_path / "card.jpg", [(sign, 400, 500, 60), ("Grace", 2800, 2500, 60)],
                       align)
    before = texts_in(src)
    assert "Ada" in before and "xample" in before.lower()  # readable before
    r, line = blur(demo_home, src, tmp_path / "out")
    assert r.exit_code == 0 and line["status"] == "exported", line
    assert TEXT_COVERED in line["flags"]
    for word in ("Ada", "Example", "EXAMPLE", "P001"):
        assert word not in r.stdout  # comms learn that text was covered, never what or whose
    after = texts_in(line["output"])
    assert "xample" not in after.lower() and "Ada" not in after, after
    assert "Grace" in after  # a first name alone names nobody: left as it was
    read = tesseract_reads(line["output"])
    if read is not None:
        assert "xample" not in read.lower(), read


def test_a_register_pupils_name_on_two_lines_holds_the_photo(demo_home, tmp_path):
    from safeguard.held import HeldQueue

    open_store(demo_home).add_register("P002", "cp", actor="test")
    src = signed_photo(tmp_path / "card.jpg", [("Ben\nExample", 400, 500, 60)])
    r, line = blur(demo_home, src, tmp_path / "out")
    assert line["status"] == "held" and r.exit_code == 3, line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    rec = HeldQueue(demo_home.held_dir).record(line["held_id"])
    assert any(t["pupil"] == "P002" for t in rec["texts"])  # the DSL sees whose name it is
