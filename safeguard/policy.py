"""Per-face and per-image decisions. Pure: distances and flags in, decisions out.

A face is
- restricted when it is within `restrict_tolerance` of any restricted pupil (no consent for the
  channel, withdrawn, expired, or on a register). Its action is redact, or hold when the pupil is
  on a protected register (only the DSL may release those);
- cleared when it is within `clear_tolerance` (`small_face_tolerance` for a face narrower than
  `small_face`) of a consenting pupil and every restricted pupil is at least `clear_margin`
  further away; or within `distinct_tolerance` of a consenting pupil and every
  other enrolled pupil, consenting or restricted, at least `distinct_margin` further away (a
  distinct match: more pupils enrolled make it rarer, never commoner);
- unknown otherwise, and follows the unknown-face policy (keep, redact or hold).
Any doubt falls to restricted: the restricted net is wider than the clearing one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from safeguard.config import Config


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
) -> FaceDecision:
    """Decide one face from its distance to every pupil (closest encoding each).

    A face narrower than `config.min_identifiable_face` can still be restricted, but never
    cleared, and is redacted even under the keep policy: its encoding is too poor to trust."""
    inf = float("inf")
    d_restricted = float(np.min(dists[restricted])) if restricted.any() else inf
    consenting = ~restricted
    d_clear = float(np.min(dists[consenting])) if consenting.any() else inf

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
    too_small = face_width is not None and face_width < config.min_identifiable_face
    if too_small:
        return FaceDecision("unknown", "hold" if unknown == "hold" else "redact",
                            reason="too small to identify")
    tolerance = config.clear_tolerance
    if face_width is not None and face_width < config.small_face:
        tolerance = min(tolerance, config.small_face_tolerance)
    if d_clear <= max(config.clear_tolerance, config.distinct_tolerance):
        pick = int(np.flatnonzero(consenting)[np.argmin(dists[consenting])])
        if d_clear <= tolerance and d_restricted - d_clear >= config.clear_margin:
            return FaceDecision("cleared", "keep", pupil=pupil_ids[pick], distance=d_clear)
        d_others = float(np.min(np.delete(dists, pick))) if len(dists) > 1 else inf
        if d_others - d_clear >= config.distinct_margin:
            return FaceDecision("cleared", "keep", pupil=pupil_ids[pick], distance=d_clear)
    if d_clear <= tolerance:
        reason = "matches a consenting pupil but too close to a restricted one"
    elif d_clear <= max(config.clear_tolerance, config.distinct_tolerance):
        reason = "near a consenting pupil but not distinct from other pupils"
    else:
        reason = "matches no enrolled pupil"
    return FaceDecision("unknown", unknown, reason=reason)


def decision_cutoff(config: Config, distinct: bool = True) -> float:
    """The distance beyond which no decision changes: distances above it need only a lower bound
    (`identify.distances_per_pupil`). With `distinct=False`, the cutoff of every rule but the
    distinct match: given lower bounds beyond it, that rule can only fail to clear a face, never
    clear one wrongly (a bound is never above the true distance), so a face it leaves unknown is
    decided again with the full cutoff (`pipeline.analyse`)."""
    cut = max(config.restrict_tolerance, config.clear_tolerance + config.clear_margin)
    if distinct:
        cut = max(cut, config.distinct_tolerance + config.distinct_margin)
    return cut


def image_status(decisions: list[FaceDecision]) -> str:
    """"held" when any face needs the DSL, else "exported"."""
    return "held" if any(d.action == "hold" for d in decisions) else "exported"
