"""CSV import: bad rows reported by line number with nothing applied; --dry-run changes
nothing; a good file is applied whole; an Arbor/SIMS column can be mapped with --map."""

from pathlib import Path

from click.testing import CliRunner
from support.helpers import open_store
from support.store_fixtures import make_home

from safeguard.cli import cli

GOOD = """pupil_id,name,academy,year,leaving_date,consent_social,consent_website,consent_by,consent_date,consent_expires,registers,biometric_consent_by,biometric_consent_date
P001,Ada Example,North,Y5,,no,yes,Mrs Example,2025-09-01,2026-08-31,,Mrs Example,01/09/2025
P002,Ben Example,North,Y6,2026-07-22,yes,yes,Mr Example,2025-09-02,,lac,,
"""

BAD = """pupil_id,name,consent_social,consent_by,leaving_date,registers
P001,Ada Example,yes,Mrs Example,,
P002,Ben Example,perhaps,Mr Example,,
P003,Cy Example,yes,Ms Example,31/02/2026,
,No Id,yes,Someone,,
P005,Eve Example,yes,Mr E,,cp;secret
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "export.csv"
    p.write_text(text)
    return p


def _invoke(tmp_path, *args):
    return CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "pupils", *args])


def test_csv_import_reports_bad_rows(tmp_path):
    store = open_store(make_home(tmp_path))  # with the staff accounts the CLI signs in with
    r = _invoke(tmp_path, "import", str(_write(tmp_path, BAD)))
    assert r.exit_code == 1
    assert "line 3: consent_social: 'perhaps'" in r.output
    assert "line 4: leaving_date" in r.output
    assert "line 5: pupil_id" in r.output
    assert "line 6: registers: unknown register 'secret'" in r.output
    assert "line 2" not in r.output
    assert "nothing imported" in r.output
    assert store.pupils() == []  # not even the good first row


def test_dry_run_changes_nothing_then_import_applies_all(tmp_path):
    store = open_store(make_home(tmp_path))  # with the staff accounts the CLI signs in with
    path = _write(tmp_path, GOOD)
    dry = _invoke(tmp_path, "import", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "line 2: P001: add" in dry.output and "would change" in dry.output
    assert store.pupils() == []
    real = _invoke(tmp_path, "import", str(path))
    assert real.exit_code == 0, real.output
    ada, ben = store.get_pupil("P001"), store.get_pupil("P002")
    assert ada["consents"]["social"]["state"] == "refused"
    assert ada["consents"]["website"]["expires"] == "2026-08-31"
    assert store.biometric_status("P001").allowed and not store.biometric_status("P002").allowed
    assert [r["register"] for r in ben["registers"]] == ["lac"]
    assert ben["leaving_date"] == "2026-07-22"
    again = _invoke(tmp_path, "import", str(path))  # idempotent
    assert "0 pupil(s) changed; 2 unchanged" in again.output


def test_a_later_export_withdraws_consent(tmp_path):
    store = open_store(make_home(tmp_path))  # with the staff accounts the CLI signs in with
    _invoke(tmp_path, "import", str(_write(tmp_path, GOOD)))
    later = (
        "UPN,name,consent_website,consent_by,consent_date\nP002,,withdrawn,Mr Example,2025-10-01\n"
    )
    r = _invoke(tmp_path, "import", str(_write(tmp_path, later)), "--map", "UPN=pupil_id")
    assert r.exit_code == 0, r.output
    assert store.get_pupil("P002")["consents"]["website"]["state"] == "withdrawn"
