"""A reference photo already older than the age limit (reference_max_age_months: such a reference
covers the pupil's face but never lets it be kept) is stored, but the data manager hears at
enrolment that it is already stale, with the count in the summary: before, the school's photos
from 2009-2012 enrolled as "enrolled 2 photo(s)" and `pupils list` showed them "(stale 2)" at
once, with no word at enrolment."""

import datetime as dt
import json

import pytest
from conftest import SAMPLES
from support.helpers import new_home, open_store, run_cli

pytestmark = pytest.mark.model

ADA = [SAMPLES / "references" / "ada-1.jpg", SAMPLES / "references" / "ada-2.jpg"]  # 2012, 2009


def _home(tmp_path):
    home = new_home(tmp_path / "home")
    open_store(home).add_pupil("P001", "Ada Example", biometric_consent=True, actor="test")
    return home


def test_photos_taken_years_ago_are_reported_stale_when_enrolled(tmp_path):
    home = _home(tmp_path)
    r = run_cli("--home", home.root, "pupils", "enrol", "P001", *ADA)
    assert r.exit_code == 0, r.output
    assert "Enrolled 2 photo(s) for P001, 2 already stale." in r.stdout
    assert "taken more than 24 months ago: already stale" in r.stderr
    listed = run_cli("--home", home.root, "pupils", "list", "--stale")
    assert "P001" in listed.stdout and "(stale 2)" in listed.stdout  # what enrolment said


def test_the_json_counts_stale_photos_and_recent_ones_are_not(tmp_path):
    home = _home(tmp_path)
    today = dt.date.today().isoformat()
    r = run_cli("--home", home.root, "pupils", "enrol", "P001", *ADA, "--taken", today, "--json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert row["enrolled"] == 2 and row["stale"] == 0
    assert not any("stale" in w for w in row["warnings"])
