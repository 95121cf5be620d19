"""The per-face rules, on distances: restricted wins doubt, clearing needs a margin."""

import numpy as np
import pytest

from safeguard.config import Config
from safeguard.policy import decide_face, image_status

CFG = Config()
IDS = ["P001", "P002", "P003"]
REASONS = ["no consent for social", "consent", "CP register"]
RESTRICTED = np.array([True, False, True])
REGISTER = np.array([False, False, True])


def decide(d, unknown="redact", width=None):
    return decide_face(np.array(d, dtype=np.float32), RESTRICTED, REGISTER, IDS, REASONS, CFG,
                       unknown, face_width=width)


def test_a_face_near_a_restricted_pupil_is_redacted():
    d = decide([0.40, 0.9, 0.9])
    assert (d.label, d.action, d.pupil) == ("restricted", "redact", "P001")


def test_a_face_near_a_register_pupil_holds_the_photo():
    d = decide([0.9, 0.9, 0.5])
    assert (d.label, d.action, d.pupil) == ("restricted", "hold", "P003")
    assert image_status([d]) == "held"


def test_a_restricted_pupil_within_the_clearing_tolerance_wins_over_a_closer_consenting_one():
    # a face that would be cleared as the restricted pupil, were they consenting, is never cleared
    d = decide([CFG.clear_tolerance - 0.05, 0.30, 0.9])
    assert (d.label, d.pupil) == ("restricted", "P001")


def test_restricted_wins_when_the_consenting_pupil_is_not_clearly_closer():
    d = decide([CFG.clear_tolerance + 0.05, CFG.clear_tolerance + 0.05 - CFG.clear_margin + 0.01,
                0.9])
    assert d.label == "restricted"


def test_a_consenting_pupil_far_closer_than_every_restricted_one_clears_the_face():
    # Children's faces lie close together: most faces are within restrict_tolerance of one of a
    # school's restricted pupils, so "any restricted pupil within 0.6 wins" redacted most
    # consenting children (benchmarks/REPORT.md, school scale). Beyond the clearing tolerance and
    # clear_margin further away than the consenting pupil, the restricted pupil no longer wins.
    d = decide([0.55, 0.30, 0.9])
    assert (d.label, d.action, d.pupil) == ("cleared", "keep", "P002")


def test_a_face_close_to_a_consenting_pupil_with_margin_is_cleared():
    d = decide([0.75, 0.30, 0.9])
    assert (d.label, d.action, d.pupil) == ("cleared", "keep", "P002")


def test_a_face_without_margin_over_restricted_pupils_is_not_cleared():
    cfg = Config(restrict_tolerance=0.5, clear_tolerance=0.45, clear_margin=0.1,
                 distinct_tolerance=0.45).check()
    d = decide_face(np.array([0.52, 0.44, 0.9], np.float32), RESTRICTED, REGISTER, IDS, REASONS,
                    cfg, "keep")
    assert (d.label, d.action) == ("unknown", "keep")
    assert decide_face(np.array([0.56, 0.44, 0.9], np.float32), RESTRICTED, REGISTER, IDS,
                       REASONS, cfg, "keep").label == "cleared"


def test_a_distinct_match_a_little_further_out_is_cleared():
    # beyond clear_tolerance but within distinct_tolerance, and every other pupil at least
    # distinct_margin further away
    near = round((CFG.clear_tolerance + CFG.distinct_tolerance) / 2, 3)
    d = decide([0.95, near, near + CFG.distinct_margin + 0.01])
    assert CFG.clear_tolerance < near <= CFG.distinct_tolerance
    assert (d.label, d.action, d.pupil) == ("cleared", "keep", "P002")


def test_a_match_further_out_that_is_not_distinct_is_not_cleared():
    near = round((CFG.clear_tolerance + CFG.distinct_tolerance) / 2, 3)
    # another pupil (here a restricted one, beyond the restricted net) is within the margin
    other = max(CFG.restrict_tolerance + 0.01, near + CFG.distinct_margin - 0.05)
    assert other - near < CFG.distinct_margin
    d = decide([0.95, near, other])
    assert (d.label, d.action) == ("unknown", "redact")
    assert d.reason == "near a consenting pupil but not distinct from other pupils"
    # ... and so is a second consenting pupil: either could be the face, or neither
    ids, reasons = IDS + ["P004"], REASONS + ["consent"]
    restricted, register = np.append(RESTRICTED, False), np.append(REGISTER, False)
    d = decide_face(np.array([0.95, near, 0.95, near + 0.05], np.float32), restricted, register,
                    ids, reasons, CFG, "redact")
    assert d.label == "unknown"


def test_beyond_the_distinct_tolerance_nothing_is_cleared():
    assert decide([0.99, CFG.distinct_tolerance + 0.01, 0.99]).label == "unknown"


def test_the_distinct_rule_can_be_turned_off():
    off = Config(distinct_tolerance=Config().clear_tolerance).check()
    near = round((CFG.clear_tolerance + CFG.distinct_tolerance) / 2, 3)
    d = decide_face(np.array([0.99, near, 0.99], np.float32), RESTRICTED, REGISTER, IDS, REASONS,
                    off, "redact")
    assert d.label == "unknown"


def test_a_small_face_is_cleared_only_close_in_or_as_a_distinct_match():
    small, large = CFG.small_face - 1, CFG.small_face
    assert CFG.min_identifiable_face <= small
    # between small_face_tolerance and clear_tolerance, another pupil not far off:
    mid = round((CFG.small_face_tolerance + CFG.clear_tolerance) / 2, 3)
    row = [0.95, mid, mid + CFG.distinct_margin - 0.05]
    assert decide(row, width=large).label == "cleared"
    d = decide(row, width=small)
    assert (d.label, d.action) == ("unknown", "redact")
    assert d.reason == "near a consenting pupil but not distinct from other pupils"
    # ... cleared when close in (here with a second consenting pupil near, so not distinct) ...
    close = round(CFG.small_face_tolerance - 0.02, 3)
    ids, reasons = IDS + ["P004"], REASONS + ["consent"]
    restricted, register = np.append(RESTRICTED, False), np.append(REGISTER, False)
    d = decide_face(np.array([0.95, close, 0.95, close + 0.1], np.float32), restricted, register,
                    ids, reasons, CFG, "redact", face_width=small)
    assert (d.label, d.pupil) == ("cleared", "P002")
    # ... or when every other pupil is far
    assert decide([0.95, mid, mid + CFG.distinct_margin + 0.01], width=small).label == "cleared"


@pytest.mark.parametrize(
    "bad",
    [
        {"distinct_tolerance": 0.45},  # below clear_tolerance
        {"distinct_tolerance": 0.65},  # beyond restrict_tolerance
        {"distinct_margin": 0.05},  # below clear_margin
        {"small_face_tolerance": 0.55},  # beyond clear_tolerance
        {"small_face": -1},
    ],
)
def test_inconsistent_distinct_settings_are_refused(bad):
    from safeguard.config import ConfigError

    with pytest.raises(ConfigError):
        Config(**bad).check()


@pytest.mark.parametrize("policy", ["keep", "redact", "hold"])
def test_faces_matching_nobody_follow_the_unknown_policy(policy):
    d = decide([0.9, 0.8, 0.95], unknown=policy)
    assert (d.label, d.action) == ("unknown", policy)


def test_a_face_too_small_to_identify_is_never_kept_or_cleared():
    assert decide([0.9, 0.2, 0.9], unknown="keep", width=12).action == "redact"
    assert decide([0.9, 0.2, 0.9], unknown="hold", width=12).action == "hold"
    assert decide([0.3, 0.9, 0.9], unknown="keep", width=12).label == "restricted"


def test_with_an_empty_store_every_face_is_unknown():
    d = decide_face(np.zeros(0, np.float32), np.zeros(0, bool), np.zeros(0, bool), [], [], CFG,
                    "keep")
    assert (d.label, d.action) == ("unknown", "keep")
