"""An account scoped to one academy of a trust reaches nothing about another academy's pupils,
by any command.

Before, each command chose whether to scope the store, and four did not: `find --pupil` listed
another academy's child's published photos, `review takedowns` listed and `review close-takedown`
closed another academy's CP child's takedown list, and `report` printed "P001: CP register;
consent for social refused" to a DSL of another academy; `pupils add` said "already exists" of
another academy's pupil. Every command now reaches the data through the signed-in account's door
(safeguard/door.py), which applies the scope in each method."""

from __future__ import annotations

import json

import pytest
from conftest import build_demo_home
from support.helpers import TEST_PASSWORD, open_store, run_cli_as

pytestmark = pytest.mark.model  # enrolled pupils, an index and a contact sheet: the face models


def _trust(tmp_path, reference_encodings):
    """Ada (P001, CP register) at South, Ben (P002) at North; a DSL and a data manager of North."""
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    store = open_store(home)
    store.update_pupil("P001", academy="South", actor="test")
    store.update_pupil("P002", academy="North", actor="test")
    for user, role in (("dsl-north", "dsl"), ("data-north", "data")):
        store.add_staff(user, role, TEST_PASSWORD, actor="test", academy="North")
    return home


def test_find_does_not_search_for_another_academys_pupil(tmp_path, reference_encodings, photos):
    home = _trust(tmp_path, reference_encodings)
    h = ("--home", home.root)
    r = run_cli_as("test-dsl", *h, "index", photos)
    assert r.exit_code == 0, r.output
    r = run_cli_as("dsl-north", *h, "find", "--pupil", "P001", "--json")
    assert r.exit_code == 1 and "no pupil P001" in r.output, r.output
    assert "visit.jpg" not in r.output
    r = run_cli_as("test-dsl", *h, "find", "--pupil", "P001", "--json")  # trust-wide: found
    assert r.exit_code == 0 and "visit.jpg" in r.stdout, r.output


def test_takedown_lists_of_another_academy_are_not_shown_or_closed(tmp_path,
                                                                  reference_encodings):
    from safeguard import takedown

    home = _trust(tmp_path, reference_encodings)
    hit = {"path": "/published/visit.jpg", "sha256": "0" * 64, "distance": 0.31,
           "faces": [{"box": [1, 2, 3, 4], "distance": 0.31}]}
    item = takedown.add(home, "P001", "protected register added", [hit], photos_searched=1)
    h = ("--home", home.root)
    r = run_cli_as("dsl-north", *h, "review", "takedowns", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == [], r.output
    r = run_cli_as("dsl-north", *h, "review", "takedowns")
    assert "Ada" not in r.output and "visit.jpg" not in r.output and "P001" not in r.output
    r = run_cli_as("dsl-north", *h, "review", "close-takedown", item)
    assert r.exit_code == 1 and "no such takedown item" in r.output, r.output
    assert takedown.get(home, item)["state"] == "open"
    r = run_cli_as("test-dsl", *h, "review", "takedowns", "--json")
    assert [i["id"] for i in json.loads(r.stdout)] == [item]


def test_a_contact_sheet_does_not_name_another_academys_pupil(tmp_path, reference_encodings,
                                                              photos):
    home = _trust(tmp_path, reference_encodings)
    h = ("--home", home.root)
    sheet = tmp_path / "north.html"
    r = run_cli_as("dsl-north", *h, "report", photos / "visit.jpg", "--html", sheet,
                   "--channel", "social", "--jobs", "1")
    assert r.exit_code == 0, r.output
    text = sheet.read_text()
    for secret in ("Ada", "P001", "CP register", "consent for social refused"):
        assert secret not in text, secret
    assert "another academy" in text
    whole = tmp_path / "trust.html"
    r = run_cli_as("test-dsl", *h, "report", photos / "visit.jpg", "--html", whole,
                   "--channel", "social", "--jobs", "1")
    assert r.exit_code == 0 and "Ada Example" in whole.read_text(), r.output
    assert "CP register" in whole.read_text()


def test_adding_another_academys_id_is_refused_in_the_words_of_any_refusal(tmp_path,
                                                                          reference_encodings):
    home = _trust(tmp_path, reference_encodings)
    store = open_store(home)
    store.add_pupil("P003", "Cy Example", academy="North", registers=["lac"], actor="test-dsl")
    store.erase("P003", actor="test-dsl")  # erased from a register: a tombstone
    h = ("--home", home.root)
    answers = []
    for pid in ("P001", "P003"):  # another academy's pupil; an id erased from a register
        r = run_cli_as("data-north", *h, "pupils", "add", pid, "--name", "New Pupil")
        answers.append((r.exit_code, r.output.replace(pid, "ID")))
    assert answers[0] == answers[1], answers
    assert answers[0][0] == 1 and "already exists" not in answers[0][1]
    assert "South" not in answers[0][1] and "register" not in answers[0][1]
    csv = tmp_path / "rows.csv"
    outputs = []
    for pid in ("P001", "P003"):
        csv.write_text(f"pupil_id,name\n{pid},New Pupil\n")
        r = run_cli_as("data-north", *h, "pupils", "import", csv, "--dry-run")
        outputs.append((r.exit_code, r.output.replace(pid, "ID")))
    assert outputs[0] == outputs[1] and outputs[0][0] == 1, outputs
    assert open_store(home).get_pupil("P001")["name"] == "Ada Example"
