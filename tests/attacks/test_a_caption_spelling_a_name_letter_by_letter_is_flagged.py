"""A caption that spells a pupil's name with its letters set apart ("B.E.N. E.X.A.M.P.L.E", "B E N
E X A M P L E") or runs the name together ("BenExample") passed the caption check. Letters set
apart are now read as the words they spell, and a full name written as one word is a full name;
initials, abbreviations and a first name alone still pass."""

from __future__ import annotations

import pytest
from support.helpers import run_cli_as

from safeguard.exitcodes import ExitStatus
from safeguard.naming import check_text, people


@pytest.mark.parametrize("text", ["Well done B.E.N. E.X.A.M.P.L.E!", "B E N  E X A M P L E",
                                  "B E N E X A M P L E", "B. E. N. E. X. A. M. P. L. E.",
                                  "Go #BenExample", "e.x.a.m.p.l.e, b.e.n. won"])
def test_a_spelled_out_or_run_together_name_fails_the_caption_check(demo_home, text):
    r = run_cli_as("test-comms", "--home", demo_home.root, "caption", text)
    assert r.exit_code == ExitStatus.NEEDS_CHANGE, r.output
    assert "a pupil's full name" in r.output
    # the caption's own words are quoted back, never the name as the store holds it, or whose
    assert "P002" not in r.output and "Ben Example" not in r.output


@pytest.mark.parametrize("text", ["Our U.K. trip", "Well done B.E.N.!", "A.B.C. of reading",
                                  "R E A D I N G week", "Example of good work"])
def test_initials_abbreviations_and_first_names_pass(demo_home, text):
    r = run_cli_as("test-comms", "--home", demo_home.root, "caption", text)
    assert r.exit_code == 0, r.output


def test_the_finding_spans_the_letters_as_written():
    text = "Well done B.E.N. E.X.A.M.P.L.E!"
    [f] = check_text(text, people([("P2", "Ben Example")]))
    assert f.kind == "full_name" and f.pupil == "P2"
    assert text[f.start:f.end].startswith("B.E.N") and text[f.start:f.end].endswith("L.E")
