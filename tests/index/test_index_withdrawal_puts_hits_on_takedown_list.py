"""When consent is withdrawn or a register flag is added, the published-photo index is searched
by itself and the hits go onto the DSL's takedown list (safeguard.takedown)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from support.helpers import run_cli
from support.index_support import home_copy, indexed_template

from safeguard import takedown

pytestmark = pytest.mark.model


def _names(item: dict) -> set[str]:
    return {Path(h["path"]).name for h in item["hits"]}


def test_consent_withdrawal_searches_the_index(tmp_path, tmp_path_factory, reference_encodings):
    template, _ = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    r = run_cli("--home", home.root, "pupils", "consent", "withdraw", "P001", "website",
                "--by", "Parent", "--as", "test-data")
    assert r.exit_code == 0, r.output
    assert "Searched 4 published photo(s) for P001: 3 found" in r.stdout
    items = takedown.list_items(home)
    assert len(items) == 1
    item = items[0]
    assert item["id"] in r.stdout and item["state"] == "open"
    assert item["pupil"] == "P001" and item["reason"] == "consent withdrawn: website"
    assert _names(item) == {"assembly.jpg", "visit.jpg", "phone-rotated-gps.jpg"}
    assert all(h["distance"] <= 0.6 and len(h["box"]) == 4 for h in item["hits"])
    assert takedown.get(home, item["id"]) == item
    path = takedown.folder(home) / f"{item['id']}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(takedown.folder(home).stat().st_mode) == 0o700
    assert b"Ada" not in path.read_bytes() and b"Example" not in path.read_bytes()

    closed = takedown.close(home, item["id"], by="dsl", note="removed from the website")
    assert closed["state"] == "closed" and takedown.list_items(home, open_only=True) == []


def test_register_flag_searches_the_index_without_saying_which_register(
        tmp_path, tmp_path_factory, reference_encodings):
    template, _ = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    r = run_cli("--home", home.root, "pupils", "register", "add", "P002", "cp", "--as", "test-dsl")
    assert r.exit_code == 0, r.output
    assert "P002: 2 found" in r.stdout
    (item,) = takedown.list_items(home)
    assert item["pupil"] == "P002" and _names(item) == {"assembly.jpg", "ben-1.jpg"}
    assert item["reason"] == "protected register added"  # which register stays in the store
    assert b'"cp"' not in (takedown.folder(home) / f"{item['id']}.json").read_bytes()


def test_biometric_withdrawal_cannot_search_and_says_so(tmp_path, tmp_path_factory,
                                                        reference_encodings):
    template, _ = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    r = run_cli("--home", home.root, "pupils", "biometric", "withdraw", "P001", "--by", "Parent")
    assert r.exit_code == 0, r.output
    assert "2 encoding(s) destroyed" in r.stdout
    assert "cannot be searched" in r.stdout and "check by hand" in r.stdout
    assert takedown.list_items(home) == []
    # and later changes cannot search either: the encodings are gone
    r = run_cli("--home", home.root, "pupils", "consent", "withdraw", "P001", "website",
                "--by", "Parent")
    assert r.exit_code == 0 and "cannot be searched for them automatically" in r.stdout
    assert takedown.list_items(home) == []


def test_without_an_index_nothing_happens(demo_home):
    r = run_cli("--home", demo_home.root, "pupils", "consent", "withdraw", "P001", "website",
                "--by", "Parent")
    assert r.exit_code == 0
    assert r.stdout.strip() == "Consent for website withdrawn for P001."
    assert not takedown.folder(demo_home).exists()
    assert not (demo_home.root / "index").exists()
    from safeguard.index import on_consent_change

    assert on_consent_change(demo_home, "P001", "test") is None


def test_a_csv_import_that_withdraws_consent_searches_the_index(
        tmp_path, tmp_path_factory, reference_encodings):
    """The after-change step lives below the CLI (safeguard.after_change): an import that
    withdraws a pupil's consent puts their published photos on the takedown list, as
    `consent withdraw` does (a withdrawal through the CLI once missed it)."""
    template, _ = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    csv_path = tmp_path / "mis.csv"
    csv_path.write_text("pupil_id,consent_website,consent_by\nP001,withdrawn,Parent\nP002,,\n")
    r = run_cli("--home", home.root, "pupils", "import", csv_path, "--as", "test-data")
    assert r.exit_code == 0, r.output
    assert "Searched 4 published photo(s) for P001: 3 found" in r.stdout
    (item,) = takedown.list_items(home)
    assert item["pupil"] == "P001" and item["reason"] == "consent withdrawn: website"
    assert _names(item) == {"assembly.jpg", "visit.jpg", "phone-rotated-gps.jpg"}
    # importing the same file again changes nothing and searches nothing
    r = run_cli("--home", home.root, "pupils", "import", csv_path, "--as", "test-data")
    assert r.exit_code == 0 and "Searched" not in r.stdout
    assert len(takedown.list_items(home)) == 1


def test_consent_refused_after_it_was_given_searches_the_index(
        tmp_path, tmp_path_factory, reference_encodings):
    template, _ = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    csv_path = tmp_path / "mis.csv"
    csv_path.write_text("pupil_id,consent_website,consent_by\nP002,no,Parent\n")
    r = run_cli("--home", home.root, "pupils", "import", csv_path, "--json", "--as", "test-data")
    assert r.exit_code == 0, r.output
    (item,) = takedown.list_items(home)
    assert item["pupil"] == "P002" and item["reason"] == "consent refused: website"
    r = run_cli("--home", home.root, "pupils", "consent", "refuse", "P001", "website",
                "--by", "Parent", "--as", "test-data")
    assert r.exit_code == 0, r.output
    assert "P001: 3 found" in r.stdout
    assert {i["pupil"] for i in takedown.list_items(home)} == {"P001", "P002"}
