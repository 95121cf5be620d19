"""`pupils import` takes a school MIS export as it ships: Arbor's and SIMS's separate first-name and
surname columns (legal and preferred) are combined into the stored full name, never half of it;
the dry run shows each pupil's name as it will be stored; a first name alone is a bad row. A child
known by another name is stored under both, and captions naming either are flagged.

The CSVs in exports/ are laid out as the exports are (column names as they ship: see
consent_db/mis_names.py for where each name comes from)."""

from __future__ import annotations

import json
from pathlib import Path

from support.helpers import new_home, open_store, run_cli, run_cli_as

from safeguard.exitcodes import ExitStatus

EXPORTS = Path(__file__).parent / "exports"


def _import(home, name: str, *args: str, user: str = "test-data"):
    id_column = {"arbor": "UPN", "sims": "Adno"}[name.split("-")[0]]
    return run_cli_as(user, "--home", home.root, "pupils", "import",
                      EXPORTS / f"{name}.csv", "--map", f"{id_column}=pupil_id", *args)


def _names(home) -> dict[str, str]:
    return {p["id"]: p["name"] for p in open_store(home).pupils()}


def test_an_arbor_export_with_legal_and_preferred_names_stores_full_names(tmp_path):
    home = new_home(tmp_path / "home")
    dry = _import(home, "arbor-students", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "A123456789012: add (name as stored: Ada Example)" in dry.output
    assert "B123456789012: add (name as stored: Alfie Smith / Alfred Smith)" in dry.output
    assert "C123456789012: add (name as stored: Mei da Costa)" in dry.output
    assert "ignored column(s)" in dry.output  # Year, Registration Form, Date of Birth
    assert _names(home) == {}
    r = _import(home, "arbor-students")
    assert r.exit_code == 0, r.output
    assert _names(home) == {"A123456789012": "Ada Example",
                            "B123456789012": "Alfie Smith / Alfred Smith",
                            "C123456789012": "Mei da Costa"}


def test_a_sims_export_stores_full_names_and_the_name_a_child_is_known_by(tmp_path):
    home = new_home(tmp_path / "home")
    r = _import(home, "sims-students", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    stored = {c["pupil"]: c["name"] for c in json.loads(r.stdout)["changes"]}
    assert stored == {"001234": "Ben Example",  # middle names are not needed to catch a name
                      "001235": "Zoe Smith-Jones / Zoë Jones",
                      "001236": "Siobhán O'Neill"}
    assert _import(home, "sims-students").exit_code == 0
    assert _names(home) == stored


def test_a_sims_report_with_legal_and_plain_name_columns_takes_the_legal_ones(tmp_path):
    home = new_home(tmp_path / "home")
    r = _import(home, "sims-legal-names")
    assert r.exit_code == 0, r.output
    assert _names(home) == {"001240": "Cy Example"}


def test_captions_naming_a_child_by_their_preferred_or_legal_name_are_flagged(tmp_path):
    home = new_home(tmp_path / "home")
    assert _import(home, "arbor-students").exit_code == 0
    for text in ("Well done Alfie Smith!", "Well done Alfred Smith!", "Mei da Costa in 4O"):
        r = run_cli_as("test-comms", "--home", home.root, "caption", text)
        assert r.exit_code == ExitStatus.NEEDS_CHANGE, (text, r.output)
    r = run_cli_as("test-comms", "--home", home.root, "caption", "Well done Alfie!")
    assert r.exit_code == ExitStatus.OK, r.output


def test_a_first_name_without_a_surname_is_a_bad_row_and_nothing_is_imported(tmp_path):
    home = new_home(tmp_path / "home")
    csv = tmp_path / "half.csv"
    csv.write_text("Adno,Legal Forename,Legal Surname\n1,Ada,Example\n2,Ben,\n")
    r = run_cli("--home", home.root, "pupils", "import", csv, "--map", "Adno=pupil_id")
    assert r.exit_code == ExitStatus.ERROR
    assert "line 3: name: a first name and a surname are both needed" in r.output
    assert _names(home) == {}


def test_a_first_name_column_without_a_surname_column_is_refused(tmp_path):
    home = new_home(tmp_path / "home")
    csv = tmp_path / "first-only.csv"
    csv.write_text("pupil_id,Legal First Name,Year\nP1,Ada,Year 4\n")
    r = run_cli("--home", home.root, "pupils", "import", csv)
    assert r.exit_code == ExitStatus.ERROR
    assert "a first name column without a surname column" in r.output
    csv.write_text("pupil_id,name,Forename,Surname\nP1,Ada Example,Ada,Example\n")
    r = run_cli("--home", home.root, "pupils", "import", csv)
    assert r.exit_code == ExitStatus.ERROR and "give the name one way" in r.output
    assert _names(home) == {}


def test_an_existing_pupil_stored_under_a_first_name_is_corrected_by_the_export(tmp_path):
    home = new_home(tmp_path / "home")
    open_store(home).add_pupil("A123456789012", "Ada", actor="test")  # an earlier, cut import
    dry = _import(home, "arbor-students", "--dry-run")
    assert "A123456789012: name 'Ada' -> 'Ada Example' (name as stored: Ada Example)" in dry.output
