"""A pupil's name with its letters set apart by dots or spaces ("B.E.N. E.X.A.M.P.L.E", "B E N
E X A M P L E", which the reader may return without its spaces as "BENEXAMPLE") matched no name
and was exported readable, exit 0, for a pupil on the child protection register. Letters set
apart are now read as the words they spell, and a full name written as one word is a full name:
a register pupil's name so written holds the photo, anyone else's is covered."""

from __future__ import annotations

import pytest
from support.helpers import open_store
from support.signs import blur, signed_photo, tesseract_reads, texts_in

from safeguard.pipeline import TEXT_COVERED

pytestmark = pytest.mark.model


@pytest.mark.parametrize("sign, cap", [("B.E.N. E.X.A.M.P.L.E", 40),
                                       ("B E N  E X A M P L E", 28),
                                       ("B. E. N.  E. X. A. M. P. L. E.", 40)])
def test_a_register_pupils_spelled_out_name_holds_the_photo(demo_home, tmp_path, sign, cap):
    from safeguard.held import HeldQueue

    open_store(demo_home).add_register("P002", "cp", actor="test")
    src = signed_photo(tmp_path / "banner.jpg", [(sign, 400, 900, cap)])
    assert "E" in texts_in(src)  # the reader finds the sign
    r, line = blur(demo_home, src, tmp_path / "out")
    assert line["status"] == "held" and r.exit_code == 3, line
    rec = HeldQueue(demo_home.held_dir).record(line["held_id"])
    assert any(t["pupil"] == "P002" for t in rec["texts"])


def test_a_spelled_out_name_is_covered_and_cannot_be_read_afterwards(demo_home, tmp_path):
    src = signed_photo(tmp_path / "banner.jpg", [("A.D.A. E.X.A.M.P.L.E", 400, 900, 40),
                                                 ("Grace", 2800, 2500, 60)])
    r, line = blur(demo_home, src, tmp_path / "out")
    assert r.exit_code == 0 and line["status"] == "exported", line
    assert TEXT_COVERED in line["flags"]
    after = texts_in(line["output"])
    assert "X.A" not in after and "XAMP" not in after, after
    assert "Grace" in after
    read = tesseract_reads(line["output"])
    if read is not None:
        assert "X.A" not in read and "XAMP" not in read, read
