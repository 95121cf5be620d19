"""Shared helpers for the consent store tests (plain functions: conftest.py is the lead's)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import SHARED_TESTDATA

from consent_db import ConsentStore
from safeguard.home import Home

REPO = Path(__file__).resolve().parents[2]
TESTDATA = SHARED_TESTDATA  # honours SAFEGUARD_TESTDATA (conftest)


def make_home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


def make_store(tmp_path: Path) -> ConsentStore:
    """A new store with no staff accounts: for tests of the store itself (a CLI call needs
    helpers.open_store's accounts)."""
    return ConsentStore.open(make_home(tmp_path), create=True)


def vec(seed: int) -> np.ndarray:
    """A reproducible unit-ish 128-d encoding."""
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v) * 0.6


TODAY = dt.date(2025, 3, 1)


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python process (real processes, not threads)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )


def popen_python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
