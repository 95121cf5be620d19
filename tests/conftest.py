"""Shared fixtures: the bundled samples, the shared test data, and a demo home with two pupils.

Ada Example (P001): no consent for social, consent for website. Ben Example (P002): consent for
both. Both have biometric consent and are enrolled from the bundled reference photos.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

# Test accounts' passwords are hashed with argon2id at its lightest cost: at the library's
# defaults every account made and every sign-in takes a quarter of a second, most of the fast
# loop. A hash carries its own parameters, so such accounts verify quickly in subprocesses too
# (where a sign-in rehashes them at the defaults, as it would any weak hash). That production
# hashes use the defaults is tested with the hasher kept here
# (tests/access/test_passwords_are_hashed_at_full_cost.py).
from argon2 import PasswordHasher
from support import model_guard  # a fast test that runs a model fails: see the markers below

# The shared test data: SAFEGUARD_TESTDATA, else ../shared/testdata beside the repository
# (support.data: its cases join the repository's own when it is there).
from support.data import SHARED_TESTDATA

import consent_db.staff

PRODUCTION_HASHER = consent_db.staff._ph
consent_db.staff._ph = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

# Spot checks hold a random share of photos that would be exported (safeguard.spot_check): the
# suite's photos must come out the same every run, so its Configs start with none (homes made by
# support.helpers say so in their config.toml, for the CLI run in subprocesses too). The tests of
# spot checks set the rate themselves.
import safeguard.config

PRODUCTION_SPOT_CHECK_RATE = safeguard.config.DEFAULT_SPOT_CHECK_RATE
safeguard.config.DEFAULT_SPOT_CHECK_RATE = 0.0


@pytest.fixture(autouse=True, scope="session")
def signed_in_for_the_session():
    """Module- and session-scoped fixtures run the CLI too: sign them in for the whole session."""
    from support.helpers import TEST_PASSWORD, TEST_USER

    saved = {k: os.environ.get(k) for k in ("SAFEGUARD_USER", "SAFEGUARD_PASSWORD")}
    os.environ.update(SAFEGUARD_USER=TEST_USER, SAFEGUARD_PASSWORD=TEST_PASSWORD)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def signed_in_by_default(monkeypatch):
    """Every CLI call (in-process or a subprocess) signs in as the test DSL unless the test
    changes it; test homes get the accounts from helpers.open_store."""
    from support.helpers import TEST_PASSWORD, TEST_USER

    monkeypatch.setenv("SAFEGUARD_USER", TEST_USER)
    monkeypatch.setenv("SAFEGUARD_PASSWORD", TEST_PASSWORD)
    monkeypatch.delenv("SAFEGUARD_NEW_PASSWORD", raising=False)


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    if not (SHARED_TESTDATA / "manifest.csv").exists():
        pytest.skip(f"shared test data not found at {SHARED_TESTDATA} (CI always has it)")
    return SHARED_TESTDATA


@pytest.fixture(scope="session")
def reference_encodings() -> dict[str, list]:
    """Encodings of the bundled reference photos, computed once per test session."""
    from safeguard.detect import detect_faces
    from safeguard.identify import encode_faces
    from safeguard.images import load_image

    out: dict[str, list] = {}
    for p in sorted((SAMPLES / "references").glob("*.jpg")):
        rgb = load_image(p).rgb
        faces = detect_faces(rgb)
        assert len(faces) == 1, p
        out.setdefault(p.stem.split("-")[0], []).append(encode_faces(rgb, faces)[0])
    return out


def build_demo_home(root: Path, encodings: dict[str, list], ada_registers: tuple[str, ...] = ()):
    import datetime as dt

    from support.helpers import open_store

    from safeguard.home import Home

    home = Home(root).ensure()
    store = open_store(home)
    store.add_pupil("P001", "Ada Example", consents={"social": False, "website": True},
                    registers=list(ada_registers), biometric_consent=True, actor="test")
    store.add_pupil("P002", "Ben Example", consents={"social": True, "website": True},
                    biometric_consent=True, actor="test")
    today = dt.date.today()
    store.enrol("P001", encodings["ada"], [today] * len(encodings["ada"]), actor="test")
    store.enrol("P002", encodings["ben"], [today] * len(encodings["ben"]), actor="test")
    return home


@pytest.fixture
def demo_home(tmp_path, reference_encodings):
    """A home where Ada is restricted on social and Ben is cleared."""
    return build_demo_home(tmp_path / "home", reference_encodings)


@pytest.fixture
def photos(tmp_path) -> Path:
    """A writable copy of the bundled sample photos."""
    dst = tmp_path / "photos"
    shutil.copytree(SAMPLES / "photos", dst)
    return dst


# Markers (pyproject.toml). A module that runs the face or OCR models, processes, a browser or
# Ray says so itself (`pytestmark = pytest.mark.model`, or on one test); everything else is marked
# `fast` here, the quick loop (`./run tests -m fast`). A fast test whose body runs a model fails,
# naming the marker to declare (support.model_guard), so the loop cannot quietly grow slow.
SLOWER = ("model", "slow", "browser", "ray")
model_guard.install()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.get_closest_marker(m) for m in SLOWER):
            item.add_marker(pytest.mark.fast)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if item.get_closest_marker("fast") is None:
        return (yield)
    with model_guard.armed(item.nodeid):
        return (yield)


def pytest_terminal_summary(terminalreporter):
    """Say which real-photo cases this run left out for want of the shared test data."""
    from support.data import LEFT_OUT

    if not LEFT_OUT:
        return
    cases = sum(n for _, n in LEFT_OUT)
    modules = sorted({m for m, _ in LEFT_OUT})
    terminalreporter.write_sep("-", "shared test data")
    terminalreporter.write_line(
        f"shared test data not found at {SHARED_TESTDATA}: {cases} case(s) on its real photos were "
        f"left out of {len(modules)} module(s) (each behaviour ran on the repository's samples; CI "
        "runs them all):")
    for m in modules:
        terminalreporter.write_line(f"  {m}: {sum(n for mm, n in LEFT_OUT if mm == m)}")
