"""Class rosters: with `--group`, only those groups' consenting pupils can clear a face, and every
restricted pupil of the school still restricts. Groups come from the CSV import (`groups`
column, replaced like other fields) or `pupils add/update --group`."""

import json
import shutil

import pytest
from support.helpers import json_lines, open_store, run_cli

pytestmark = pytest.mark.model


def _groups(home, csv_path, text):
    csv_path.write_text(text)
    r = run_cli("--home", home.root, "pupils", "import", csv_path)
    assert r.exit_code == 0, r.output
    return {p["id"]: p.get("groups") for p in open_store(home).pupils()}


def test_csv_import_sets_replaces_and_clears_groups(demo_home, tmp_path):
    csv_path = tmp_path / "roster.csv"
    got = _groups(demo_home, csv_path, "pupil_id,groups\nP001,choir;4O\nP002,4O\n")
    assert got == {"P001": ["choir", "4O"], "P002": ["4O"]}
    got = _groups(demo_home, csv_path, "pupil_id,groups\nP001,choir\nP002,\n")
    assert got == {"P001": ["choir"], "P002": ["4O"]}  # blank: unchanged
    got = _groups(demo_home, csv_path, "pupil_id,groups\nP001,-\n")
    assert got["P001"] == []
    csv_path.write_text("pupil_id,groups\nP001,<script>\n")
    r = run_cli("--home", demo_home.root, "pupils", "import", csv_path)
    assert r.exit_code != 0 and "groups" in r.output


def test_pupils_list_group_shows_a_roster(demo_home):
    run_cli("--home", demo_home.root, "pupils", "update", "P002", "--group", "4O")
    r = run_cli("--home", demo_home.root, "pupils", "list", "--group", "4o", "--json")
    assert r.exit_code == 0, r.output
    assert [p["id"] for p in json.loads(r.stdout)] == ["P002"]


def _scan(home, photo, *extra):
    r = run_cli("--home", home.root, "scan", photo, "--json", "--jobs", "1", *extra)
    return r, json_lines(r.stdout)


def test_a_consenting_pupil_outside_the_roster_is_not_cleared(demo_home, photos):
    # on the website both pupils consent: without a roster both faces are cleared
    photo = photos / "assembly.jpg"
    run_cli("--home", demo_home.root, "pupils", "update", "P001", "--group", "choir")
    run_cli("--home", demo_home.root, "pupils", "update", "P002", "--group", "4O")
    r, [res] = _scan(demo_home, photo, "--channel", "website")
    assert sorted(f["label"] for f in res["faces"]) == ["cleared", "cleared"], r.output
    r, [res] = _scan(demo_home, photo, "--channel", "website", "--group", "4O")
    assert r.exit_code == 0, r.output
    assert sorted((f["label"], f["action"]) for f in res["faces"]) == [
        ("cleared", "keep"), ("unknown", "redact")]
    r, [res] = _scan(demo_home, photo, "--channel", "website", "--group", "4O", "--group", "choir")
    assert sorted(f["label"] for f in res["faces"]) == ["cleared", "cleared"]


def test_a_restricted_pupil_outside_the_roster_still_restricts(demo_home, photos):
    run_cli("--home", demo_home.root, "pupils", "update", "P002", "--group", "4O")
    _r, [res] = _scan(demo_home, photos / "assembly.jpg", "--channel", "social", "--group", "4O")
    assert sorted((f["label"], f["action"]) for f in res["faces"]) == [
        ("cleared", "keep"), ("restricted", "redact")]


def test_a_group_nobody_enrolled_is_in_is_refused(demo_home, photos, tmp_path):
    r = run_cli("--home", demo_home.root, "blur", photos, "--out", tmp_path / "out",
                "--group", "4Q")
    assert r.exit_code == 2 and "no enrolled pupil is in group '4Q'" in r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_watcher_takes_the_roster_from_a_subfolder_named_for_a_group(demo_home, photos,
                                                                        tmp_path):
    """INBOX/4O/photo.jpg is taken with the 4O roster; a subfolder that names no group, or the
    top of the inbox, with the watcher's own (here the whole school)."""
    from support.watch_helpers import run_once

    run_cli("--home", demo_home.root, "pupils", "update", "P001", "--group", "choir")
    run_cli("--home", demo_home.root, "pupils", "update", "P002", "--group", "4O")
    labels = {}
    for folder in ("4o", "sports day"):
        inbox, ready = tmp_path / f"inbox-{folder}", tmp_path / f"ready-{folder}"
        (inbox / folder).mkdir(parents=True)
        shutil.copy(photos / "assembly.jpg", inbox / folder / "assembly.jpg")
        r = run_once(demo_home.root, inbox, ready, "--channel", "website", "--json",
                     "--settle", "0.1", "--jobs", "1")
        assert r.returncode == 0, r.stderr
        [rec] = json_lines(r.stdout)
        labels[folder] = sorted((f["label"], f["action"]) for f in rec["faces"])
    assert labels["4o"] == [("cleared", "keep"), ("unknown", "redact")]
    assert labels["sports day"] == [("cleared", "keep"), ("cleared", "keep")]


def test_with_a_roster_a_distinct_match_is_judged_against_the_pupils_off_it():
    """Beyond the clearing tolerance, a face near a roster pupil is cleared when the pupils off
    the roster lie roster_margin further away, even though a classmate on the roster is as near
    (one consenting classmate taken for another keeps a face that may be kept anyway). A pupil
    off the roster within that margin, or a restricted pupil within distinct_margin, still stops
    it; without a roster the classmate stops it too."""
    import numpy as np

    from safeguard.config import Config
    from safeguard.policy import decide_face

    cfg = Config(clear_tolerance=0.3, near_restricted_tolerance=0.3,
                 small_face_tolerance=0.3).check()
    ids = ["R1", "R2", "OFF", "RESTRICTED"]
    restricted = np.array([False, False, False, True])
    roster = np.array([True, True, False, False])

    def decide(d, clearable=roster):
        return decide_face(np.array(d, np.float32), restricted, restricted, ids, ["r"] * 4, cfg,
                           "redact", clearable=clearable)

    near = 0.45  # beyond clear_tolerance, within distinct_tolerance
    off, restr = near + cfg.roster_margin + 0.01, near + cfg.distinct_margin + 0.01
    d = decide([near, near + 0.02, off, restr])
    assert (d.label, d.pupil) == ("cleared", "R1")
    # the whole school: the classmate is as near, so the match is not distinct
    assert decide([near, near + 0.02, off, restr], clearable=None).label == "unknown"
    # a pupil off the roster inside roster_margin
    assert decide([near, 0.9, near + cfg.roster_margin - 0.02, restr]).label == "unknown"
    # a restricted pupil inside distinct_margin (though beyond roster_margin)
    # (beyond restrict_tolerance, so not restricted: unknown, and redacted)
    d = decide([near, 0.9, 0.9, near + cfg.roster_margin + 0.02])
    assert (d.label, d.action) == ("unknown", "redact")
