"""Test cases from the repository's samples, and more from the shared test data when it is there.

A behaviour is tested on the repository's public-domain samples (samples/, and photos made from
them at test time: tests/support/synthetic.py), so a fresh clone without ../shared tests it. The
shared test data's real photos (crowds, profiles, poor and real-camera files) are further cases of
the same behaviour: they run when the data is present (CI always has it; `SAFEGUARD_TESTDATA`
can point to another copy). When it is absent they are left out, counted, and named in the run's summary
(conftest.pytest_terminal_summary), so nobody mistakes a run without them for a full one. A test
that has no case in the repository skips with the reason, as before.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_TESTDATA = Path(os.environ.get("SAFEGUARD_TESTDATA") or REPO.parent / "shared" / "testdata")
HAVE_SHARED = (SHARED_TESTDATA / "manifest.csv").exists()

# (module, how many cases) left out of this run for want of the shared data
LEFT_OUT: list[tuple[str, int]] = []


def with_shared(repo_cases, shared_cases, present: bool | None = None) -> list:
    """Parameters for `pytest.mark.parametrize` or a fixture: `repo_cases`, then `shared_cases`
    when the shared data is `present` (default: its manifest exists). Cases left out are recorded
    for the summary."""
    repo_cases, shared_cases = list(repo_cases), list(shared_cases)
    if not repo_cases:
        raise ValueError("a test needs a case of its own in the repository; skip it instead")
    if HAVE_SHARED if present is None else present:
        return repo_cases + shared_cases
    caller = inspect.stack()[1].frame.f_globals.get("__name__", "?")
    LEFT_OUT.append((caller, len(shared_cases)))
    return repo_cases
