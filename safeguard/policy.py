"""Per-face and per-image decisions. Pure: distances and flags in, decisions out.

A face is
- cleared when it is within the clearing tolerance (calibrated to the gallery's size and spread,
  at most `clear_tolerance`; `small_face_tolerance` for a face narrower than `small_face`) of a
  consenting pupil, every restricted pupil lies beyond that tolerance and at least `clear_margin`
  further away; or within `distinct_tolerance` of a consenting pupil and every other enrolled
  pupil, consenting or restricted, at least `distinct_margin` further away (a distinct match:
  more pupils enrolled make it rarer, never commoner). With a class roster only the roster's
  consenting pupils clear, and a distinct match is judged against the pupils off the roster
  (`roster_margin` further away; restricted ones still `distinct_margin`);
- otherwise restricted when it is within `restrict_tolerance` of any restricted pupil (no consent
  for the channel, withdrawn, expired, or on a register). Its action is redact, or hold when the
  pupil is on a protected register (only the DSL may release those);
- unknown otherwise, and follows the unknown-face policy (keep, redact or hold).
Any doubt falls to restricted: the restricted net is wider than the clearing one, and a face a
restricted pupil could claim is never cleared.

Two rules look at the photo's boxes together: a weak box lying half on a face the detector found
with confidence, unknown on its own, follows that face when it is cleared
(`follow_cleared_faces`), and is then listed with that face rather than as a face of its own
(`merge_weak_boxes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from safeguard.config import Config
from safeguard.faces import Box

if TYPE_CHECKING:
    from safeguard.calibration import CalibratedTolerances


@dataclass(frozen=True)
class FaceDecision:
    label: str  # "restricted" | "cleared" | "unknown"
    action: str  # "keep" | "redact" | "hold"
    # DSL-only fields below: never shown to comms staff.
    pupil: str | None = None
    reason: str | None = None
    distance: float | None = None


def decide_face(
    dists: np.ndarray,
    restricted: np.ndarray,
    on_register: np.ndarray,
    pupil_ids: list[str],
    reasons: list[str],
    config: Config,
    unknown: str,
    face_width: int | None = None,
    clearable: np.ndarray | None = None,
    rivals: np.ndarray | None = None,
    tolerances: CalibratedTolerances | None = None,
) -> FaceDecision:
    """Decide one face from its distance to every pupil (closest encoding each).

    `tolerances` are the clearing tolerances in force, calibrated to the gallery (see
    safeguard/calibration.py, never above `config`'s); without them, `config`'s own.
    `clearable` marks the consenting pupils who may clear a face (default every consenting
    pupil; with a class roster, the roster's); every restricted pupil
    restricts whatever it says.

    A face is cleared only when no restricted pupil could claim it: every restricted pupil lies
    beyond the clearing tolerance and at least `clear_margin` further away than the consenting
    pupil (at least `distinct_margin` for a distinct match); a face within `restrict_tolerance` of
    a restricted pupil is cleared only within `near_restricted_tolerance` (or as a distinct match,
    which needs every restricted pupil `distinct_margin` further away). Otherwise a face within
    `restrict_tolerance` of a restricted pupil is restricted. A face narrower than
    `config.min_identifiable_face` can still be restricted, but never cleared, and is redacted even
    under the keep policy: its encoding is too poor to trust.

    `rivals` marks entries that only rival (MatchMatrix.rivals: a consenting pupil's references
    too old to clear): never cleared as, never restricting, but another pupil's match must be
    distinct from them as from any pupil (the pupil's own old references excepted)."""
    inf = float("inf")
    restricted = np.asarray(restricted, bool)
    rivals = np.zeros(len(restricted), bool) if rivals is None else np.asarray(rivals, bool)
    if clearable is None:
        clearable = ~restricted & ~rivals
    d_restricted = float(np.min(dists[restricted])) if restricted.any() else inf
    d_clear = float(np.min(dists[clearable])) if clearable.any() else inf
    # a class roster: fewer may clear than the consenting pupils with current references
    roster = bool(np.count_nonzero(clearable) < np.count_nonzero(~restricted & ~rivals))
    tol = config if tolerances is None else tolerances
    too_small = face_width is not None and face_width < config.min_identifiable_face
    tolerance = tol.clear_tolerance
    if face_width is not None and face_width < config.small_face:
        tolerance = min(tolerance, tol.small_face_tolerance)
    reach = max(tol.clear_tolerance, config.distinct_tolerance)
    near_restricted = d_restricted <= config.restrict_tolerance
    if near_restricted:  # a restricted child's face must not pass as a consenting one
        tolerance = min(tolerance, tol.near_restricted_tolerance)

    if not too_small and d_clear <= reach and d_restricted > tol.clear_tolerance:
        pick = int(np.flatnonzero(clearable)[np.argmin(dists[clearable])])
        if d_clear <= tolerance and d_restricted - d_clear >= config.clear_margin:
            return FaceDecision("cleared", "keep", pupil=pupil_ids[pick], distance=d_clear)
        if _distinct(dists, pick, restricted, clearable, roster, config, tol.roster_margin,
                     _own_rivals(rivals, pupil_ids, pick)):
            return FaceDecision("cleared", "keep", pupil=pupil_ids[pick], distance=d_clear)

    if d_restricted <= config.restrict_tolerance:
        idx = np.flatnonzero(restricted & (dists <= config.restrict_tolerance))
        # If any restricted pupil within tolerance is on a register, the whole image waits.
        reg = idx[on_register[idx]]
        pick = int(reg[np.argmin(dists[reg])]) if len(reg) else int(idx[np.argmin(dists[idx])])
        return FaceDecision(
            "restricted",
            "hold" if len(reg) else "redact",
            pupil=pupil_ids[pick],
            reason=reasons[pick],
            distance=float(dists[pick]),
        )
    if too_small:
        return FaceDecision("unknown", "hold" if unknown == "hold" else "redact",
                            reason="too small to identify")
    if d_clear <= tolerance:
        reason = "matches a consenting pupil but too close to a restricted one"
    elif d_clear <= reach:
        reason = "near a consenting pupil but not distinct from other pupils"
    elif rivals.any() and float(np.min(dists[rivals])) <= tolerance:
        reason = "matches a consenting pupil only by a reference too old to clear"
    elif roster and float(np.min(dists[~restricted & ~rivals])) <= tolerance:
        reason = "matches a consenting pupil who is not in the photo's groups"
    else:
        reason = "matches no enrolled pupil"
    return FaceDecision("unknown", unknown, reason=reason)


def _own_rivals(rivals: np.ndarray, pupil_ids: list[str], pick: int) -> np.ndarray | None:
    """The rival entries (old references) of the pupil at `pick` itself, or None."""
    if not rivals.any():
        return None
    own = np.zeros(len(rivals), bool)
    for j in np.flatnonzero(rivals):
        own[j] = pupil_ids[j] == pupil_ids[pick]
    return own


def _distinct(dists: np.ndarray, pick: int, restricted: np.ndarray, clearable: np.ndarray,
              roster: bool, config: Config, roster_margin: float,
              own: np.ndarray | None = None) -> bool:
    """The distinct match: is the face at least `distinct_margin` nearer its consenting pupil
    `pick` than to every other enrolled pupil?

    With a class roster (`roster`: `clearable` short of every consenting pupil) it is enough
    that the pupils off the roster lie `roster_margin` further away (calibrated to the roster's
    and the school's size: safeguard/calibration.py) and every restricted pupil `distinct_margin`:
    taking one roster pupil for another keeps a face that may be kept anyway, so the other roster
    pupils are left out, and the rest of the school, who are not in the photo, are the yardstick a
    face of someone never enrolled fails against."""
    d = float(dists[pick])
    others = np.ones(len(dists), bool)
    others[pick] = False
    if own is not None:  # the pupil's own old references are no rival to their match
        others &= ~own
    if not others.any() or float(np.min(dists[others])) - d >= config.distinct_margin:
        return True
    if not roster:
        return False
    off = others & ~clearable
    near_restricted = (off & restricted).any() and \
        float(np.min(dists[off & restricted])) - d < config.distinct_margin
    off_consenting = off & ~restricted
    return not near_restricted and (
        not off_consenting.any() or float(np.min(dists[off_consenting])) - d >= roster_margin)


# Weak boxes on a face: the detector sometimes adds a weak box that sits half on a face it found
# with confidence (over the hair and one eye, say). Encoded, such a box matches nobody, and redacting it
# blurs half of a consenting pupil's face. It follows the face beneath it when it is weak (scored
# below ON_FACE_WEAK), the face beneath is sure (at least ON_FACE_SURE) and cleared, at
# least ON_FACE_SHARE of the weak box lies on that face's box, one box's centre lies inside the
# other, and the weak box is no wider than ON_FACE_WIDTH times the face. Two real faces
# overlap that much only when one hides the other; a weak box that matches a restricted pupil is
# restricted whatever lies beneath it.
ON_FACE_WEAK = 0.4
ON_FACE_SURE = 0.7
ON_FACE_SHARE = 0.4
ON_FACE_WIDTH = 1.5


def weak_box_on(weak: Box, weak_score: float, face: Box, face_score: float) -> bool:
    """Is `weak` a second, weaker box on the face `face` rather than another face?"""
    if weak_score >= ON_FACE_WEAK or face_score < ON_FACE_SURE or weak_score > face_score:
        return False
    if weak.width > ON_FACE_WIDTH * face.width or weak.area <= 0:
        return False
    if weak.intersection(face) < ON_FACE_SHARE * weak.area:
        return False
    return face.holds_centre_of(weak) or weak.holds_centre_of(face)


def follow_cleared_faces(
    boxes: list[Box], scores: list[float], decisions: list[FaceDecision]
) -> list[FaceDecision]:
    """The decisions with every unknown box that is a weak box on a cleared face (see
    `weak_box_on`) kept with that face. Restricted faces, and unknown boxes on any other face,
    are left as they are."""
    out = list(decisions)
    for j, d in enumerate(decisions):
        if d.label != "unknown":
            continue
        for i, c in enumerate(decisions):
            if c.label == "cleared" and weak_box_on(boxes[j], scores[j], boxes[i], scores[i]):
                out[j] = FaceDecision("cleared", "keep", pupil=c.pupil,
                                      reason="a second, weaker box on a cleared face",
                                      distance=c.distance)
                break
    return out


SEVERITY = {"keep": 0, "redact": 1, "hold": 2}


def merge_weak_boxes(
    boxes: list[Box], scores: list[float], decisions: list[FaceDecision]
) -> list[tuple[Box, FaceDecision, int]]:
    """One entry per face the photo shows: (box, decision, index of the detection).

    A weak box on a face (see `weak_box_on`) is the same face seen twice, not another face, so it
    is not listed on its own: it joins the face beneath it when that face's action is at least as
    strict as its own (a box that follows a cleared face; an unknown box on a redacted or held
    face). The joined face's box then covers both, so whatever is redacted or held covers the weak
    box too; a cleared face keeps its own box (the weak box was kept with it anyway). A weak box
    that is restricted on its own, or stricter than the face beneath, stays a face of its own:
    fail closed."""
    joined: dict[int, int] = {}
    for j, d in enumerate(decisions):
        if d.label == "restricted":
            continue
        for i, c in enumerate(decisions):
            if i == j or i in joined or not weak_box_on(boxes[j], scores[j], boxes[i], scores[i]):
                continue
            if SEVERITY[c.action] >= SEVERITY[d.action]:
                joined[j] = i
                break
    out = []
    for i, (box, d) in enumerate(zip(boxes, decisions)):
        if i in joined:
            continue
        if d.action != "keep":
            for j in (j for j, into in joined.items() if into == i):
                box = box.union(boxes[j])
        out.append((box, d, i))
    return out


def decision_cutoff(config: Config, distinct: bool = True) -> float:
    """The distance beyond which no decision changes: distances above it need only a lower bound
    (`identify.distances_per_pupil`). With `distinct=False`, the cutoff of every rule but the
    distinct match: given lower bounds beyond it, that rule can only fail to clear a face, never
    clear one wrongly (a bound is never above the true distance), so a face it leaves unknown is
    decided again with the full cutoff (`pipeline.analyse`)."""
    cut = max(config.restrict_tolerance, config.clear_tolerance + config.clear_margin)
    if distinct:
        cut = max(cut, config.distinct_tolerance + max(config.distinct_margin, config.roster_margin))
    return cut


def image_status(decisions: list[FaceDecision]) -> str:
    """"held" when any face needs the DSL, else "exported"."""
    return "held" if any(d.action == "hold" for d in decisions) else "exported"
