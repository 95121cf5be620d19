"""What a comms member can still infer from holds: is the child I keep photographing on a register?

    .venv/bin/python benchmarks/bench_hold_inference.py [--json OUT] [--trials 200000] [--seed 7]

Pure computation, no models, a few seconds. Comms staff know whom they photographed, and see
whether each photo is exported or "held for the DSL to check". Every photo of a child on a
register is held; a spot check (safeguard/spot_check.py, `spot_check_rate` s) and the other
causes of a hold (an unknown face under `unknown = "hold"`, text that cannot be covered: a base
rate b per photo) hold photos of other children too. The attacker takes n photos of one child a
week for W weeks and sees every one held; how sure can they be that the child is on a register?

Two ways of drawing spot checks are compared:
- per photo: each photo drawn on its own (a photo saved again is a new draw). After N photos, all
  held, the likelihood ratio is (r / h)^N with h = 1 - (1 - s)(1 - b) and r the share of a
  register child's photos that are recognised and held (1: the attacker's best case);
- per pupil and week (what safeguard does for a child recognised as restricted): a child drawn
  this week has every photo held this week, one not drawn only by other causes. After W weeks of
  n photos, all held, the ratio is (r^n / (s + (1 - s) b^n))^W.
The posterior for a prior p (the share of children the attacker thinks might be on a register)
is p L / (p L + 1 - p). A Monte Carlo run of simulated children checks the formulas.

The other side of the trade-off is the DSL's work: at rate s about s of the photos that would be
exported wait for the DSL (more in photos with several restricted pupils, any of whom drawn holds
it).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

RATES = (0.0, 0.02, 0.05, 0.1, 0.2)
BASE_RATES = (0.0, 0.05)  # other causes of a hold per photo of a child not on a register
PRIORS = (0.01, 0.05, 0.2)  # the attacker's prior that the child is on a register
SURE = 0.95
MAX_OBSERVATIONS = 1000


def posterior(prior: float, ratio: float) -> float:
    if math.isinf(ratio):
        return 1.0
    return prior * ratio / (prior * ratio + 1 - prior)


def ratio_per_photo(s: float, b: float, r: float = 1.0) -> float:
    """Likelihood ratio of one held photo, register vs not, with a fresh draw per photo."""
    h = 1 - (1 - s) * (1 - b)
    return math.inf if h == 0 else r / h


def ratio_per_week(s: float, b: float, n: int, r: float = 1.0) -> float:
    """Likelihood ratio of one week in which all n photos of the child were held, with the
    child drawn once for the week."""
    h = s + (1 - s) * b**n
    return math.inf if h == 0 else r**n / h


def needed(prior: float, ratio: float) -> int | None:
    """Observations (photos or weeks) all held before the posterior reaches SURE."""
    if ratio <= 1.0:
        return None
    if math.isinf(ratio):
        return 1
    k = math.log(SURE / (1 - SURE) * (1 - prior) / prior) / math.log(ratio)
    k = max(1, math.ceil(k - 1e-9))
    return k if k <= MAX_OBSERVATIONS else None


def simulate(prior: float, s: float, b: float, n: int, weeks: int, per_week: bool, trials: int,
             rng: random.Random) -> float | None:
    """Monte Carlo: the share of simulated children on a register among those whose photos
    (n a week, `weeks` weeks) were all held. None when no child had them all held."""
    all_held = on_register = 0
    for _ in range(trials):
        register = rng.random() < prior
        held = True
        for _w in range(weeks):
            if register:
                continue  # every photo of a register child is held (r = 1)
            if per_week:
                if rng.random() < s:
                    continue  # drawn for the week: all n held
                if not all(rng.random() < b for _ in range(n)):
                    held = False
                    break
            else:
                if not all(rng.random() < 1 - (1 - s) * (1 - b) for _ in range(n)):
                    held = False
                    break
        if held:
            all_held += 1
            on_register += register
    return on_register / all_held if all_held else None


def run(trials: int, seed: int) -> dict:
    rng = random.Random(seed)
    rows = []
    for b in BASE_RATES:
        for s in RATES:
            for prior in PRIORS:
                one = posterior(prior, ratio_per_photo(s, b))
                rows.append({
                    "spot_check_rate": s, "base_rate": b, "prior": prior,
                    "posterior_after_one_held_photo": one,
                    "photos_to_be_95pc_sure_per_photo_draws": needed(prior, ratio_per_photo(s, b)),
                    "weeks_to_be_95pc_sure_per_week_draws_n1": needed(prior, ratio_per_week(s, b, 1)),
                    "weeks_to_be_95pc_sure_per_week_draws_n5": needed(prior, ratio_per_week(s, b, 5)),
                    "posterior_after_5_photos_one_week": posterior(prior, ratio_per_week(s, b, 5)),
                    "posterior_after_5_photos_per_photo_draws":
                        posterior(prior, ratio_per_photo(s, b) ** 5),
                })
    checks = []
    for per_week, n, weeks in ((False, 1, 2), (False, 1, 3), (True, 5, 1), (True, 3, 2)):
        s, b, prior = 0.05, 0.05, 0.05
        formula = posterior(prior, (ratio_per_week(s, b, n) if per_week
                                    else ratio_per_photo(s, b) ** n) ** weeks)
        measured = simulate(prior, s, b, n, weeks, per_week, trials, rng)
        checks.append({"draw": "per week" if per_week else "per photo", "photos_a_week": n,
                       "weeks": weeks, "spot_check_rate": s, "base_rate": b, "prior": prior,
                       "formula": formula, "simulated": measured})
    return {"sure": SURE, "rows": rows, "monte_carlo": checks, "trials": trials, "seed": seed}


def _fmt(v) -> str:
    if v is None:
        return "never"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def report(result: dict) -> str:
    out = ["# What holds still tell a comms member about one child", "",
           f"Prior p: the attacker's belief before any photo that the child is on a register. "
           f"'To be {int(SURE * 100)}% sure': photos (or weeks) all held before the posterior "
           f"reaches {SURE}. Register children's photos all held (r = 1, the attacker's best "
           "case).", "",
           "| spot_check_rate | other causes b | prior p | posterior after 1 held photo | "
           "photos to be 95% sure (per-photo draws) | weeks to be 95% sure (per-week draws, "
           "1 photo/week) | weeks (5 photos/week) | posterior after 5 photos in a week: per "
           "photo / per week |",
           "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        out.append(
            f"| {r['spot_check_rate']} | {r['base_rate']} | {r['prior']} | "
            f"{_fmt(r['posterior_after_one_held_photo'])} | "
            f"{_fmt(r['photos_to_be_95pc_sure_per_photo_draws'])} | "
            f"{_fmt(r['weeks_to_be_95pc_sure_per_week_draws_n1'])} | "
            f"{_fmt(r['weeks_to_be_95pc_sure_per_week_draws_n5'])} | "
            f"{_fmt(r['posterior_after_5_photos_per_photo_draws'])} / "
            f"{_fmt(r['posterior_after_5_photos_one_week'])} |")
    out += ["", f"Monte Carlo check ({result['trials']} simulated children each, seed "
            f"{result['seed']}):", "",
            "| draw | photos a week | weeks | s | b | p | formula | simulated |",
            "|---|---|---|---|---|---|---|---|"]
    for c in result["monte_carlo"]:
        out.append(f"| {c['draw']} | {c['photos_a_week']} | {c['weeks']} | "
                   f"{c['spot_check_rate']} | {c['base_rate']} | {c['prior']} | "
                   f"{_fmt(c['formula'])} | {_fmt(c['simulated'])} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    ap.add_argument("--trials", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    result = run(args.trials, args.seed)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
