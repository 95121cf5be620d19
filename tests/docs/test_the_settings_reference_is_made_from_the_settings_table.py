"""docs/settings.md is what safeguard.settingsdoc makes from the settings table, so the
reference cannot drift from the code: add or change a setting and this fails until the reference
is made again."""

from __future__ import annotations

import difflib
from pathlib import Path

from safeguard import settingsdoc
from safeguard.config import SETTINGS

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_docs_settings_md_is_what_the_settings_table_makes():
    made = settingsdoc.reference()
    kept = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if kept != made:
        diff = "".join(list(difflib.unified_diff(
            kept.splitlines(keepends=True), made.splitlines(keepends=True),
            "docs/settings.md", "made from the settings table"))[:60])
        raise AssertionError(
            "docs/settings.md differs from the settings table; make it again with\n"
            f"    .venv/bin/{settingsdoc.REGENERATE}\n{diff}")


def test_every_setting_has_its_row_with_what_it_does():
    made = settingsdoc.reference()
    for s in SETTINGS:
        assert f"| `{s.name}` |" in made and s.explain in made, s.name
