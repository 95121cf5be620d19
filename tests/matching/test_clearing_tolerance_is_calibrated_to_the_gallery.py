"""The clearing tolerance holds a stated false-clear rate at the gallery's size and spread
(safeguard/calibration.py): narrower for hundreds of crowded faces, the configured one for a few
dozen well-spread faces, the children's prior when too few pupils are enrolled to measure."""

import json

import numpy as np
from support.helpers import open_store, run_cli

from safeguard.calibration import (
    PRIOR,
    calibrate,
    false_clear,
    pair_spread,
    roster_false_clear,
    roster_margin_for,
    tolerance_for,
)
from safeguard.config import Config

CFG = Config()
CHILDREN = (0.735, 0.099)  # the spread measured on the shared childhood set (REPORT.md)
ADULTS = (0.86, 0.09)


def test_more_pupils_and_more_crowded_faces_mean_a_narrower_tolerance():
    small = tolerance_for(CFG.max_false_clear, 30, *CHILDREN, CFG.clear_tolerance)
    school = tolerance_for(CFG.max_false_clear, 500, *CHILDREN, CFG.clear_tolerance)
    trust = tolerance_for(CFG.max_false_clear, 5000, *CHILDREN, CFG.clear_tolerance)
    assert CFG.clear_tolerance > small > school > trust > 0.2
    # a score of adults keep the configured tolerance: their faces lie far apart
    assert tolerance_for(CFG.max_false_clear, 20, *ADULTS, CFG.clear_tolerance) == 0.5


def test_the_tolerance_chosen_keeps_the_predicted_rate_within_the_target():
    for n in (1, 12, 30, 300, 1000, 20000):
        for spread in (CHILDREN, ADULTS, PRIOR):
            t = tolerance_for(CFG.max_false_clear, n, *spread, CFG.clear_tolerance)
            assert false_clear(t, n, *spread) <= CFG.max_false_clear
            if t < CFG.clear_tolerance:  # the largest such tolerance, to the step
                assert false_clear(t + 0.01, n, *spread) > CFG.max_false_clear


def test_a_rosters_distinct_match_needs_more_margin_as_the_roster_grows_in_its_school():
    """With a class roster the rest of the school is the yardstick (policy._distinct): a class of
    27 in a school of 430 children keeps the configured roster_margin, a roster that is most of
    the school needs far more, and the margin chosen keeps the predicted rate within the target."""
    cfg = CFG
    klass, _ = roster_margin_for(cfg, 27, 403, *CHILDREN)
    half, _ = roster_margin_for(cfg, 200, 230, *CHILDREN)
    most, _ = roster_margin_for(cfg, 380, 50, *CHILDREN)
    assert klass == cfg.roster_margin < half < most
    for k, c in ((27, 403), (200, 230), (380, 50), (3, 12)):
        m, rate = roster_margin_for(cfg, k, c, *CHILDREN)
        assert rate == roster_false_clear(cfg.distinct_tolerance, k, c, m, *CHILDREN)
        if m < 1.0:
            assert rate <= cfg.max_false_clear
        if m > cfg.roster_margin:  # the smallest such margin, to the step
            assert roster_false_clear(cfg.distinct_tolerance, k, c, m - 0.025, *CHILDREN) > \
                cfg.max_false_clear
    # the rule's rate falls as the margin widens and as more of the school is off the roster
    assert roster_false_clear(0.575, 27, 403, 0.1, *CHILDREN) > \
        roster_false_clear(0.575, 27, 403, 0.2, *CHILDREN)
    assert roster_false_clear(0.575, 27, 100, 0.15, *CHILDREN) > \
        roster_false_clear(0.575, 27, 403, 0.15, *CHILDREN)


def test_spread_counts_only_pairs_of_different_pupils():
    rng = np.random.default_rng(1)
    centre = rng.normal(size=(6, 128)) * 0.05
    enc = np.repeat(centre, 3, axis=0) + rng.normal(size=(18, 128)) * 0.001
    rows = np.repeat(np.arange(6), 3)
    mean, _sd, pupils = pair_spread(enc, rows)
    d = np.linalg.norm(centre[:, None] - centre[None], axis=2)[np.triu_indices(6, 1)]
    assert pupils == 6
    assert abs(mean - d.mean()) < 0.01  # the near-identical references of a pupil do not count


def test_a_gallery_too_small_to_measure_is_assumed_crowded(demo_home):
    store = open_store(demo_home)
    cal = calibrate(store.match_matrix("website"), CFG)
    assert cal.source == "prior" and cal.candidates == 2
    assert cal.clear_tolerance < CFG.clear_tolerance
    assert cal.predicted_false_clear <= CFG.max_false_clear


def test_status_and_dpia_show_the_live_tolerance_and_its_predicted_rate(demo_home, tmp_path):
    r = run_cli("--home", demo_home.root, "status", "--matching", "--json")  # as the DSL
    assert r.exit_code == 0, r.output
    live = json.loads(r.stdout)["matching"]
    cal = calibrate(open_store(demo_home).match_matrix("social"), CFG)
    assert live["social"]["clear_tolerance"] == cal.clear_tolerance
    assert live["social"]["predicted_false_clear"] <= CFG.max_false_clear
    r = run_cli("--home", demo_home.root, "status", "--matching")
    assert f"clearing tolerance {cal.clear_tolerance:.3f}" in r.stdout
    r = run_cli("--home", demo_home.root, "dpia", "--out", tmp_path / "pack")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "pack" / "dpia.md").read_text()
    assert "clearing tolerance in force" in md and f"| {cal.clear_tolerance:.3f} |" in md
    assert "max_false_clear" in md
