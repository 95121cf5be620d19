"""`safeguard report PATH --html OUT`: a DSL contact sheet of a batch, faces outlined and labelled
with names and reasons, written owner-only, only for a signed-in DSL, and logged."""

from __future__ import annotations

import os
import stat

import pytest
from conftest import SAMPLES
from support.helpers import open_store
from support.review_support import (
    ADMIN,
    DSL,
    PASSWORD,
    copy_home,
    review_template,
    run_cli_env,
)

pytestmark = pytest.mark.model


def test_contact_sheet_names_pupils_is_private_and_logged(
    tmp_path, tmp_path_factory, reference_encodings
):
    from safeguard.home import Home

    root = copy_home(
        review_template(tmp_path_factory, reference_encodings)[0], tmp_path / "home"
    ).root
    out = tmp_path / "sheet.html"
    photo = SAMPLES / "photos" / "assembly.jpg"
    held_before = sorted(p.name for p in (root / "held").iterdir())
    args = ("--home", root, "report", photo, tmp_path / "missing.jpg", "--html", out, "--jobs", "1")

    r = run_cli_env({"SAFEGUARD_PASSWORD": PASSWORD, "SAFEGUARD_USER": ""}, *args)
    assert r.exit_code == 1 and not out.exists()
    r = run_cli_env({"SAFEGUARD_PASSWORD": PASSWORD}, *args, "--as", ADMIN)
    assert r.exit_code == 1 and "needs dsl" in r.output and not out.exists()

    r = run_cli_env({"SAFEGUARD_PASSWORD": PASSWORD}, *args, "--as", DSL)
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    html = out.read_text()
    assert html.index("DSL DOCUMENT") < html.index("<img")  # the warning comes first
    assert "Ada Example: CP register; consent for social refused" in html
    assert "cleared: Ben Example" in html
    assert html.count("data:image/jpeg;base64,") == 1  # one thumbnail; the missing file has none
    assert "no such file or folder" in html
    assert "http://" not in html and "https://" not in html  # nothing loaded from anywhere
    # analysed like scan: nothing more held, no photo written
    assert sorted(p.name for p in (root / "held").iterdir()) == held_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "sheet.html"]
    entries = open_store(Home(root)).audit.entries()
    [entry] = [e for e in entries if e["action"] == "report.contact_sheet"]
    assert entry["actor"] == DSL and entry["details"]["pupils"] == ["P001", "P002"]
