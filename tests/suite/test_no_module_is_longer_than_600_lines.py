"""No module of the product (safeguard/, consent_db/) is longer than 600 lines: one idea per
module, so a module that grows past that has become two ideas and is split along its seam.
benchmarks/ is not held to it (measuring scripts, some of them longer)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("safeguard", "consent_db")
LIMIT = 600


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def test_no_module_is_longer_than_600_lines():
    modules = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    assert len(modules) > 20  # the packages were found
    too_long = {str(p.relative_to(ROOT)): n for p in modules if (n := _lines(p)) > LIMIT}
    assert not too_long, f"modules over {LIMIT} lines (split each along its seams): {too_long}"
