"""`safeguard dpia` writes an evidence pack from the live home: counts, thresholds, models, data
flows and the measured accuracy with its date; never a pupil's name."""

import json
import re

import pytest
from conftest import build_demo_home
from support.helpers import new_home, run_cli, run_cli_env, signed_in_as

pytestmark = pytest.mark.model

REPORT = """# Benchmark report

<!-- safeguard-benchmark {"measured": "2031-02-03", "config": {"clear_tolerance": 0.45}} -->

## Summary

- Leaks: 0 of 171 restricted faces on the montages (measured 2031-02-03).
- Needless redactions: 3.1% of consenting faces.

## Identification

Detail that the pack does not quote.
"""


@pytest.fixture
def home_with_register(tmp_path, reference_encodings):
    """Ada (restricted on social, on the CP register) and Ben (consenting), both enrolled."""
    return build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))


def _pack(tmp_path, home, *extra):
    report = tmp_path / "REPORT.md"
    report.write_text(REPORT)
    out = tmp_path / "pack"
    r = run_cli("--home", home.root, "dpia", "--out", out, "--report", report, *extra)
    assert r.exit_code == 0, r.output
    return r, (out / "dpia.md").read_text(), (out / "dpia.html").read_text()


def test_pack_has_counts_thresholds_models_and_measured_date(
    tmp_path, home_with_register, reference_encodings
):
    _, md, html = _pack(tmp_path, home_with_register)
    n_enc = len(reference_encodings["ada"]) + len(reference_encodings["ben"])
    for text in (md, html):
        assert "2031-02-03" in text  # the date the accuracy was measured
        assert "Leaks: 0 of 171" in text  # the report's summary is quoted
        assert "Detail that the pack does not quote" not in text
        assert "CenterFace" in text and "MIT" in text
        assert "dlib_face_recognition_resnet_model_v1" in text and "CC0" in text
        assert "AES-256-GCM" in text  # encodings and the store file are encrypted
        assert "seen from the front" in text and "80 px wide" in text  # enrolment checks
    assert re.search(r"\| pupils \| 2 \|", md)
    assert re.search(r"\| enrolled pupils \(with encodings\) \| 2 \|", md)
    assert re.search(rf"\| encodings \| {n_enc} \|", md)
    assert re.search(r"\| on register: cp \| 1 \|", md)
    assert re.search(r"\| restrict_tolerance \| 0\.\d+ \|", md)
    assert re.search(r"\| clear_tolerance \| at most 0\.\d+ \|", md)
    assert re.search(r"\| max_false_clear \| 0\.\d+ \|", md)
    assert re.search(r"\| weak box on a face \| below 0\.\d+, on a face of at least 0\.\d+ \|", md)
    # per channel: Ada has no social consent (restricted), Ben has; both consent to website
    assert re.search(r"\| social \| redact \| 1 \| 1 \| 1 \| 1 \| 1 \|", md)
    assert re.search(r"\| website \| redact \| 2 \| 0 \| 1 \| 1 \| 1 \|", md)
    assert "<table>" in html and "<script" not in html


def test_pack_never_names_a_pupil(tmp_path, home_with_register):
    r, md, html = _pack(tmp_path, home_with_register, "--json")
    for text in (md, html, r.stdout):
        for word in ("Ada", "Ben", "Example", "P001", "P002"):
            assert word not in text


def test_pack_warns_when_live_settings_differ_from_measured(tmp_path, home_with_register):
    (home_with_register.config_file).write_text("clear_tolerance = 0.4\n")
    r, md, _ = _pack(tmp_path, home_with_register, "--json")
    info = json.loads(r.stdout)
    assert info["measured"] == "2031-02-03"
    assert any("clear_tolerance (live 0.4, measured 0.45)" in w for w in info["warnings"])
    assert "clear_tolerance (live 0.4, measured 0.45)" in md


def test_missing_report_is_a_one_line_error(tmp_path, home_with_register):
    r = run_cli(
        "--home",
        home_with_register.root,
        "dpia",
        "--out",
        tmp_path / "p",
        "--report",
        tmp_path / "nope.md",
    )
    assert r.exit_code == 1
    assert "no benchmark report at" in r.output and "Traceback" not in r.output


def test_pack_for_a_new_store_says_nobody_is_enrolled(tmp_path):
    home = new_home(tmp_path / "fresh")
    r = run_cli("--home", home.root, "dpia", "--out", tmp_path / "p")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "p" / "dpia.md").read_text()
    assert "| enrolled pupils (with encodings) | 0 |" in md


def test_the_pack_needs_a_store_and_a_signed_in_admin_or_dsl(tmp_path):
    r = run_cli("--home", tmp_path / "none", "dpia", "--out", tmp_path / "p")
    assert r.exit_code == 1 and "no consent store" in r.output
    assert not (tmp_path / "none").exists()
    home = new_home(tmp_path / "fresh")
    r = run_cli_env(signed_in_as("test-comms"), "--home", home.root, "dpia", "--out",
                    tmp_path / "p")
    assert r.exit_code == 1 and "may not do this" in r.output
