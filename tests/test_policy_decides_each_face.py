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


def test_restricted_wins_even_when_a_consenting_pupil_is_closer():
    d = decide([0.55, 0.30, 0.9])
    assert d.label == "restricted"


def test_a_face_close_to_a_consenting_pupil_with_margin_is_cleared():
    d = decide([0.75, 0.30, 0.9])
    assert (d.label, d.action, d.pupil) == ("cleared", "keep", "P002")


def test_a_face_without_margin_over_restricted_pupils_is_not_cleared():
    # With the defaults the restricted net (0.6) already exceeds clear + margin; a narrower net
    # shows the margin rule on its own.
    cfg = Config(restrict_tolerance=0.5, clear_tolerance=0.45, clear_margin=0.1)
    d = decide_face(np.array([0.52, 0.44, 0.9], np.float32), RESTRICTED, REGISTER, IDS, REASONS,
                    cfg, "keep")
    assert (d.label, d.action) == ("unknown", "keep")
    assert decide_face(np.array([0.56, 0.44, 0.9], np.float32), RESTRICTED, REGISTER, IDS,
                       REASONS, cfg, "keep").label == "cleared"


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
