"""How the reader's text boxes are put together before names are matched (no models: boxes as
the reader returns them). A name is read across boxes on one line, across lines stacked one
above the other (similar height, overlapping across), and, for a register pupil, across boxes
near each other in any layout; every box of the name is covered. What names nobody is not joined
into a name: a first name alone, lines side by side in two columns, a first name near someone
else's surname."""

from __future__ import annotations

import numpy as np

from safeguard.naming import people
from safeguard.text import TextRegion, find_naming

PERSONS = people([("P1", "Ada Example"), ("P2", "Ben Example"), ("P3", "Grace Hopper")])


def box(text, x, y, w=None, h=40):
    w = w if w is not None else 30 * len(text)
    return TextRegion(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32),
                      text, 0.99)


def named(regions, close=frozenset()):
    return {(h.finding.pupil, tuple(sorted(r.text for r in h.regions)))
            for h in find_naming(regions, PERSONS, close=close)}


def test_a_name_on_two_stacked_lines_is_one_name_in_either_order():
    assert named([box("Ada", 100, 100), box("Example", 100, 150)]) == {("P1", ("Ada", "Example"))}
    assert named([box("EXAMPLE", 100, 100), box("Ada", 100, 150)]) == {("P1", ("Ada", "EXAMPLE"))}
    # centred lines of a certificate, with a line of other text above
    assert named([box("Certificate of Merit", 40, 40), box("Ada", 250, 100),
                  box("Example", 200, 150)]) == {("P1", ("Ada", "Example"))}
    # a stray mark read beside the first name (as a tall region) does not hide the name
    assert named([box("k", 20, 60, w=60, h=150), box("Ada", 100, 100),
                  box("Example", 100, 150)]) == {("P1", ("Ada", "Example"))}


def test_stacked_lines_of_other_text_are_not_joined_into_a_name():
    # two columns side by side: "Ada" is above nothing of hers
    assert named([box("Ada", 100, 100), box("Example", 900, 150)]) == set()
    # very different sizes: a small caption line under a large heading
    assert named([box("Ada", 100, 100, h=200), box("Example", 100, 310, h=30)]) == set()
    # a first name alone, above other text
    assert named([box("Grace", 100, 100), box("Sports Day", 100, 150)]) == set()
    # too far below to be the next line
    assert named([box("Ada", 100, 100), box("Example", 100, 300)]) == set()


def test_letters_set_apart_and_a_name_run_together_are_names():
    assert named([box("B.E.N. E.X.A.M.P.L.E", 100, 100)]) == {("P2", ("B.E.N. E.X.A.M.P.L.E",))}
    assert named([box("B", 100, 100, 30), box("E N", 150, 100, 60),
                  box("E X A M P L E", 260, 100)]) == {("P2", ("B", "E N", "E X A M P L E"))}
    assert named([box("BENEXAMPLE", 100, 100)]) == {("P2", ("BENEXAMPLE",))}
    assert named([box("B. E. N. E.X. A. M. P. L. E.", 100, 100)]) != set()
    assert named([box("B.E.N.", 100, 100)]) == set()  # a first name alone, spelled out


def test_a_register_pupils_first_name_near_their_surname_is_their_name():
    apart = [box("Ben", 100, 100), box("Example", 290, 100)]  # 2.5 heights apart on one line
    offset = [box("Example", 100, 100), box("Ben", 300, 160)]  # lower, to one side
    for layout in (apart, offset):
        assert named(layout) == set()  # not a name for anyone else's checks
        assert named(layout, close={"P2"}) == {("P2", ("Ben", "Example"))}
    # far apart on the photo: two separate things
    assert named([box("Ben", 100, 100), box("Example", 1200, 900)], close={"P2"}) == set()
    # the first name alone, and someone else's surname near a register pupil's first name
    assert named([box("Ben", 100, 100)], close={"P2"}) == set()
    assert named([box("Grace", 100, 100), box("Example", 400, 100)], close={"P2"}) == set()
