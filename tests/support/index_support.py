"""Shared set-up for the published-photo index tests (plain functions: conftest.py is the lead's).

Encoding photos is the slow part, so one archive is indexed once per test session into a template
home; tests that only read it use it as it is, tests that change the store or the index copy the
home (the archive itself is never changed, so the paths inside the index stay valid).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from safeguard.home import Home
from support.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
# Ada (P001) is in assembly.jpg (with Ben), visit.jpg and phone-rotated-gps.jpg; ben-1.jpg is Ben
# (P002) alone.
ARCHIVE = {
    "assembly.jpg": SAMPLES / "photos" / "assembly.jpg",
    "visit.jpg": SAMPLES / "photos" / "visit.jpg",
    "phone-rotated-gps.jpg": SAMPLES / "photos" / "phone-rotated-gps.jpg",
    "ben-1.jpg": SAMPLES / "references" / "ben-1.jpg",
}

_TEMPLATE: dict[str, Path] = {}


def make_archive(folder: Path, names: list[str] | None = None) -> Path:
    """A writable archive folder holding copies of the named sample photos."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or list(ARCHIVE):
        dst = folder / name
        shutil.copyfile(ARCHIVE[name], dst)
        os.chmod(dst, 0o644)
    return folder


def index_json(home: Path, *args: str) -> tuple[int, dict]:
    r = run_cli("--home", home, "index", *args, "--json")
    return r.exit_code, json.loads(r.stdout)


def find_json(home: Path, pupil: str, *args: str) -> dict:
    r = run_cli("--home", home, "find", "--pupil", pupil, "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def names_of(result: dict) -> set[str]:
    return {Path(h["path"]).name for h in result["hits"]}


def indexed_template(tmp_path_factory, reference_encodings) -> tuple[Path, Path]:
    """(home root, archive folder): the demo home with the sample archive indexed, once a session.
    Read only: copy it with `home_copy` before changing anything."""
    if not _TEMPLATE:
        from conftest import build_demo_home

        base = tmp_path_factory.mktemp("indexed")
        home = build_demo_home(base / "home", reference_encodings)
        archive = make_archive(base / "archive")
        code, summary = index_json(home.root, str(archive), "--jobs", "2")
        assert code == 0, summary
        assert summary["encoded"] == 4 and summary["photos_indexed"] == 4, summary
        _TEMPLATE.update(home=home.root, archive=archive)
    return _TEMPLATE["home"], _TEMPLATE["archive"]


def home_copy(template_home: Path, dst: Path) -> Home:
    shutil.copytree(template_home, dst, symlinks=True)
    return Home(dst)
