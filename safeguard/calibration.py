"""The clearing tolerance a gallery can afford. Pure: a match matrix in, a tolerance out.

A face of someone never enrolled (a child whose parents refused every consent) is cleared when it
lies within the clearing tolerance of some consenting pupil. The chance of that grows with the
number of pupils who may clear it and with how close together the gallery's faces lie: dlib's
encodings of children lie far closer together than adults' (benchmarks/REPORT.md, school scale).
So the tolerance is not one number for every school. It is the largest tolerance, at most the
configured `clear_tolerance`, at which a stranger's face is predicted to be cleared at most
`max_false_clear` of the time:

    P(cleared) = 1 - (1 - p(t)) ** n,   p(t) = P(two different pupils' encodings within t)

with n the references that may clear a face (the consenting pupils' current references, or a
roster's), and p(t) from a normal fit to the distances between different pupils' encodings in the
gallery itself. Each reference is a stranger's chance: a pupil with three references gives a
stranger three, so a school whose pupils gain references (enrolment each year, faces the DSL
confirms) gets a narrower tolerance for the same rate. Counting every reference as a chance of
its own over-states the rate (a pupil's references lie near each other, so a stranger near one is
often near the others): it errs safe, and benchmarks/bench_school.py measures what it gives. On the
shared childhood and adult sets the fit over-states p(t) at the tolerances that matter (it errs
safe); benchmarks/bench_school.py measures the rate it predicts against the rate it gives.

A gallery too small to measure (fewer than `MIN_PUPILS`) is assumed to be as crowded as a
school's children (`PRIOR`): fail closed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

MIN_PUPILS = 5  # fewer pupils than this: the prior, not the gallery, gives the spread
# Between-pupil distances assumed when the gallery is too small to measure: a little more crowded
# than the childhood faces of the shared set (mean 0.735, sd 0.099 in galleries of 300-430).
PRIOR = (0.70, 0.10)
MAX_REFERENCES = 1500  # encodings sampled to measure the spread (1.1M pairs at most)
STEP = 0.005  # tolerances are rounded down to this step


@dataclass(frozen=True)
class Calibration:
    clear_tolerance: float  # the tolerance in force
    near_restricted_tolerance: float  # ... for a face within restrict_tolerance of a restricted pupil
    configured: float  # config.clear_tolerance: never exceeded
    target: float  # config.max_false_clear
    predicted_false_clear: float  # at clear_tolerance, per face of someone never enrolled
    candidates: int  # pupils who may clear a face
    pupils_measured: int  # pupils whose encodings gave the spread (0: the prior)
    mean: float  # of distances between different pupils' encodings
    sd: float
    source: str  # "gallery" | "prior"
    # With a class roster: the margin the pupils off the roster must lie further away for a
    # distinct match (policy._distinct), and the false-clear rate that rule is predicted to give
    roster_margin: float | None = None
    predicted_roster_false_clear: float | None = None
    # The references of those pupils (each a stranger's chance: the n of the rate above);
    # None where only pupils were counted (one reference each)
    chances: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def pair_spread(encodings: np.ndarray, row_pupil: np.ndarray, seed: int = 0) -> tuple[float, float, int]:
    """(mean, sd, pupils) of the distances between encodings of different pupils.

    At most `MAX_REFERENCES` encodings are used, drawn with a fixed seed so that the same
    gallery always gives the same figures."""
    enc = np.asarray(encodings, np.float64).reshape(-1, 128)
    rows = np.asarray(row_pupil)
    if len(enc) > MAX_REFERENCES:
        pick = np.sort(np.random.default_rng(seed).choice(len(enc), MAX_REFERENCES, replace=False))
        enc, rows = enc[pick], rows[pick]
    pupils = len(np.unique(rows))
    if pupils < 2:
        return float("nan"), float("nan"), pupils
    sq = np.einsum("ij,ij->i", enc, enc)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * enc @ enc.T, 0.0))
    iu = np.triu_indices(len(enc), 1)
    other = rows[iu[0]] != rows[iu[1]]
    dd = d[iu][other]
    return float(dd.mean()), float(dd.std()), pupils


def false_clear(tolerance: float, candidates: int, mean: float, sd: float) -> float:
    """Predicted chance that a face of someone never enrolled lies within `tolerance` of at least
    one of `candidates` pupils."""
    if candidates <= 0 or tolerance <= 0:
        return 0.0
    p = NormalDist(mean, sd).cdf(tolerance)
    return float(-math.expm1(candidates * math.log1p(-min(p, 1 - 1e-16))))


def roster_false_clear(tolerance: float, candidates: int, others: int, margin: float,
                       mean: float, sd: float) -> float:
    """Predicted chance that a face of someone never enrolled passes the roster's distinct match:
    its nearest roster pupil (one of `candidates`) lies within `tolerance` and each of the
    `others` enrolled pupils off the roster at least `margin` further away,

        P = integral over x <= tolerance of  k f(x) (1 - F(x)) ** (k - 1) (1 - F(x + margin)) ** c

    with f, F the normal fit to the distances between different pupils (k candidates, c
    others). Like `false_clear`, it errs safe on the shared sets."""
    if candidates <= 0 or tolerance <= 0:
        return 0.0
    x = np.linspace(0.0, tolerance, 2001)
    z = (x - mean) / (sd * math.sqrt(2))
    zm = (x + margin - mean) / (sd * math.sqrt(2))
    erfc = np.vectorize(math.erfc)
    survive, survive_m = erfc(z) / 2, erfc(zm) / 2  # 1 - F
    pdf = np.exp(-((x - mean) / sd) ** 2 / 2) / (sd * math.sqrt(2 * math.pi))
    with np.errstate(divide="ignore"):
        log_terms = ((candidates - 1) * np.log(np.maximum(survive, 1e-300))
                     + others * np.log(np.maximum(survive_m, 1e-300)))
    y = candidates * pdf * np.exp(log_terms)
    return float(min(np.sum((y[1:] + y[:-1]) / 2) * (x[1] - x[0]), 1.0))


MARGIN_STEP = 0.025


def roster_margin_for(config, candidates: int, others: int, mean: float,
                      sd: float) -> tuple[float, float]:
    """(margin, predicted rate): the smallest margin, from `config.roster_margin` up in steps of
    MARGIN_STEP, at which the roster's distinct match is predicted to clear at most
    `config.max_false_clear` of strangers, and the rate it is predicted to clear; 1.0 (no such
    match) when none is. A small roster in a large school gets roster_margin; a roster that is
    most of the school, far more."""
    step = 0
    while (m := round(config.roster_margin + step * MARGIN_STEP, 4)) <= 1.0:
        rate = roster_false_clear(config.distinct_tolerance, candidates, others, m, mean, sd)
        if rate <= config.max_false_clear:
            return m, rate
        step += 1
    return 1.0, roster_false_clear(config.distinct_tolerance, candidates, others, 1.0, mean, sd)


def tolerance_for(target: float, candidates: int, mean: float, sd: float, ceiling: float) -> float:
    """The largest tolerance (a multiple of STEP, at most `ceiling`) whose predicted false-clear
    rate is at most `target`."""
    if candidates <= 0:
        return ceiling
    p = -math.expm1(math.log1p(-target) / candidates)  # per-pupil rate that gives `target`
    t = NormalDist(mean, sd).inv_cdf(min(max(p, 1e-300), 0.5))
    t = math.floor(min(t, ceiling) / STEP + 1e-9) * STEP
    return round(max(t, 0.0), 4)


def spread_or_prior(encodings, row_pupil) -> tuple[float, float, int, str]:
    """(mean, sd, pupils measured, "gallery") of the distances between different pupils, or
    (*PRIOR, 0, "prior") for a gallery too small to measure: fail closed."""
    mean, sd, pupils = pair_spread(encodings, row_pupil)
    if pupils < MIN_PUPILS or not (sd > 0):
        return (*PRIOR, 0, "prior")
    return mean, sd, pupils, "gallery"


def pupil_rows(matrix) -> np.ndarray:
    """(N,) each row's pupil, with a pupil's old references (MatchMatrix.rivals, listed under the
    same id) counted as the same pupil's."""
    rivals = getattr(matrix, "rivals", None)
    if rivals is None or not np.any(rivals):
        return np.asarray(matrix.row_pupil)
    _ids, owner = np.unique(np.asarray(matrix.pupil_ids, dtype=object), return_inverse=True)
    return owner[np.asarray(matrix.row_pupil)]


def spread_of(matrix) -> tuple[float, float, int, str]:
    """`spread_or_prior` of a consent_db.MatchMatrix."""
    return spread_or_prior(matrix.encodings, pupil_rows(matrix))


def calibration_for(config, candidates: int, spread: tuple[float, float, int, str],
                    off_roster: int | None = None, chances: int | None = None) -> Calibration:
    """The tolerances for `candidates` pupils who may clear a face, in a gallery of `spread`
    (`spread_or_prior`); with a class roster, `off_roster` enrolled pupils (or their references)
    are not on it. `chances`: the references of the `candidates` (default one each), each a
    stranger's chance to be cleared."""
    mean, sd, pupils, source = spread
    n = max(candidates, chances or 0)
    roster = {}
    if off_roster is not None:
        margin, rate = roster_margin_for(config, n, off_roster, mean, sd)
        roster = {"roster_margin": margin, "predicted_roster_false_clear": rate}
    t = tolerance_for(config.max_false_clear, n, mean, sd, config.clear_tolerance)
    near = tolerance_for(config.max_false_clear_restricted, n, mean, sd,
                         min(t, config.near_restricted_tolerance))
    return Calibration(
        clear_tolerance=t,
        near_restricted_tolerance=near,
        configured=config.clear_tolerance,
        target=config.max_false_clear,
        predicted_false_clear=false_clear(t, n, mean, sd),
        candidates=candidates,
        pupils_measured=pupils,
        mean=round(mean, 4),
        sd=round(sd, 4),
        source=source,
        chances=chances,
        **roster,
    )


def calibrate(matrix, config, clearable: np.ndarray | None = None) -> Calibration:
    """The tolerance for `matrix` (a consent_db.MatchMatrix) under `config`; `clearable` marks
    the pupils who may clear a face (default: every consenting pupil with a current reference).
    Every reference of theirs counts as a stranger's chance; with a roster, the pupils off it are
    the yardstick, counted as pupils (more of them would make the rule look safer than it is)."""
    consenting = ~np.asarray(matrix.restricted, bool) & ~_rivals(matrix)
    if clearable is None:
        clearable = consenting
    k = int(np.count_nonzero(clearable))
    roster = k < int(np.count_nonzero(consenting))
    rows = np.asarray(clearable, bool)[np.asarray(matrix.row_pupil)] if len(clearable) else \
        np.zeros(0, bool)
    chances = int(np.count_nonzero(rows))
    return calibration_for(config, k, spread_of(matrix),
                           off_roster=int(np.count_nonzero(~np.asarray(clearable, bool)
                                                           & ~_rivals(matrix))) if roster else None,
                           chances=chances)


def _rivals(matrix) -> np.ndarray:
    rivals = getattr(matrix, "rivals", None)
    return np.zeros(len(matrix.pupil_ids), bool) if rivals is None else np.asarray(rivals, bool)


def lookalike_tolerance(enrolled: int, spread: tuple, config) -> float:
    """Enrolment's lookalike check: a new reference this close to one of `enrolled` other pupils
    is refused (the same child twice, or the wrong child's photo). The largest distance, at most
    `config.clear_tolerance`, at which a new pupil who is a different child is predicted to be
    refused at most `config.max_lookalike_refusal` of the time."""
    return tolerance_for(config.max_lookalike_refusal, max(enrolled, 1), *spread[:2],
                         config.clear_tolerance)


def clearable_mask(matrix, groups: tuple[str, ...] | list[str] = ()) -> np.ndarray:
    """Consenting pupils who may clear a face: all of them, or with `groups`, those in any of
    the groups (a class roster). Restricted pupils restrict whatever the groups."""
    consenting = ~np.asarray(matrix.restricted, bool) & ~_rivals(matrix)
    if not groups:
        return consenting
    wanted = {g.casefold() for g in groups}
    member = np.array([bool(wanted & {g.casefold() for g in gs}) for gs in matrix.groups], bool)
    return consenting & member if len(member) else consenting


def unknown_groups(matrix, groups) -> list[str]:
    """The `groups` no enrolled pupil of `matrix` belongs to (case folded): a typo would clear
    nobody, or a roster silently widen."""
    known = {g.casefold() for gs in matrix.groups for g in gs}
    return [g for g in groups if g.casefold() not in known]


@dataclass(frozen=True)
class CalibratedTolerances:
    """The clearing tolerances in force for one gallery and roster (policy.decide_face): the
    settings' ceilings lowered to what the gallery's spread allows. Its own type, not a second
    Config, so that a setting (the ceiling) and its calibrated value cannot be taken for each
    other."""

    clear_tolerance: float
    near_restricted_tolerance: float
    small_face_tolerance: float
    roster_margin: float


def tolerances(config, cal: Calibration) -> CalibratedTolerances:
    """The tolerances `cal` puts in force under `config`'s ceilings."""
    return CalibratedTolerances(
        clear_tolerance=cal.clear_tolerance,
        near_restricted_tolerance=cal.near_restricted_tolerance,
        small_face_tolerance=min(config.small_face_tolerance, cal.clear_tolerance),
        roster_margin=cal.roster_margin if cal.roster_margin is not None else config.roster_margin,
    )


def apply(config, cal: Calibration):
    """`config` with the calibrated tolerances in force, as one Config (the benchmarks' form;
    the pipeline keeps them apart: `tolerances`)."""
    from dataclasses import replace

    return replace(config, **asdict(tolerances(config, cal)))


def for_store(store, config) -> dict[str, Calibration]:
    """The live calibration of every channel of an open consent_db.ConsentStore."""
    return {ch: calibrate(store.match_matrix(ch, max_age_months=config.reference_max_age_months),
                          config) for ch in config.channels}

