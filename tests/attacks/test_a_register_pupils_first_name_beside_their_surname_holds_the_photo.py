"""A register pupil's first name and surname on separate cards or labels beside each other (a
name tag in two boxes, a first name above and to one side of the surname, either order) were read
as two texts naming nobody, and the photo was exported. For a pupil on a protected register, the
first name near the surname in any layout is their name: the photo is held for the DSL, who sees
whose name it is. Their first name alone is still only a first name."""

from __future__ import annotations

import pytest
from support.helpers import open_store
from support.signs import blur, signed_photo, texts_in

pytestmark = pytest.mark.model

LAYOUTS = {
    # two cards on one line, further apart than words of one line
    "boxes side by side": [("Ben", 300, 1600, 50), ("Example", 650, 1600, 50)],
    "surname first, side by side": [("Example", 300, 1600, 50), ("Ben", 800, 1600, 50)],
    # the first name above, off to one side of the surname
    "above and to one side": [("Ben", 750, 1600, 50), ("Example", 300, 1800, 50)],
    "surname above, to one side": [("Example", 300, 1600, 50), ("Ben", 750, 1800, 50)],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_register_pupils_names_beside_each_other_hold_the_photo(demo_home, tmp_path, layout):
    from safeguard.held import HeldQueue

    open_store(demo_home).add_register("P002", "cp", actor="test")
    src = signed_photo(tmp_path / "tags.jpg", LAYOUTS[layout])
    before = texts_in(src)
    assert "Ben" in before and "Example" in before  # both read before
    r, line = blur(demo_home, src, tmp_path / "out")
    assert line["status"] == "held" and r.exit_code == 3, line
    rec = HeldQueue(demo_home.held_dir).record(line["held_id"])
    texts = [t for t in rec["texts"] if t["pupil"] == "P002"]
    assert len({tuple(t["box"]) for t in texts}) == 2  # both cards are part of the name


def test_a_register_pupils_first_name_alone_is_left(demo_home, tmp_path):
    open_store(demo_home).add_register("P002", "cp", actor="test")
    src = signed_photo(tmp_path / "tag.jpg", [("Ben", 300, 1600, 50), ("Sports Day", 300, 1800, 50)])
    r, line = blur(demo_home, src, tmp_path / "out")
    assert r.exit_code == 0 and line["status"] == "exported" and line["texts"] == [], line
    assert "Ben" in texts_in(line["output"])
