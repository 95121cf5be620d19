"""A multi-academy trust: a DSL or data manager whose account carries an academy sees and changes
only that academy's pupils, held photos and audit entries; another academy's pupil is refused as
if it did not exist. Trust-wide accounts see all (safeguard/scope.py)."""

from __future__ import annotations

import json

import pytest
from conftest import build_demo_home
from support.helpers import TEST_PASSWORD, open_store, run_cli_as

pytestmark = pytest.mark.model


def _home(tmp_path, reference_encodings, photos):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    store = open_store(home)
    store.update_pupil("P001", academy="South", actor="test")  # Ada, on the CP register
    store.update_pupil("P002", academy="North", actor="test")  # Ben
    for user, role in (("dsl-north", "dsl"), ("data-north", "data")):
        store.add_staff(user, role, TEST_PASSWORD, actor="test", academy="North")
    # a photo of Ada (South) held for the DSL
    r = run_cli_as("test-comms", "--home", home.root, "blur", photos / "visit.jpg", "--out",
                   tmp_path / "out", "--jobs", "1")
    assert r.exit_code == 3, r.output
    return home


def _ids(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return sorted(x["id"] for x in json.loads(result.stdout))


def test_a_scoped_data_manager_sees_and_changes_only_their_academy(tmp_path, reference_encodings,
                                                                   photos):
    home = _home(tmp_path, reference_encodings, photos)
    h = ("--home", home.root)
    assert _ids(run_cli_as("data-north", *h, "pupils", "list", "--json")) == ["P002"]
    assert _ids(run_cli_as("test-data", *h, "pupils", "list", "--json")) == ["P001", "P002"]
    for args in (("pupils", "show", "P001"),
                 ("pupils", "consent", "withdraw", "P001", "website", "--by", "Parent"),
                 ("pupils", "update", "P001", "--name", "Someone Else"),
                 ("pupils", "erase", "P001", "--yes")):
        r = run_cli_as("data-north", *h, *args)
        assert r.exit_code == 1 and "no pupil P001" in r.output, (args, r.output)
    assert open_store(home).get_pupil("P001")["name"] == "Ada Example"  # nothing changed
    # new pupils go into the account's academy; another academy is refused
    r = run_cli_as("data-north", *h, "pupils", "add", "P010", "--name", "Cy Example")
    assert r.exit_code == 0, r.output
    assert open_store(home).get_pupil("P010")["academy"] == "North"
    r = run_cli_as("data-north", *h, "pupils", "add", "P011", "--name", "Di Example",
                   "--academy", "South")
    assert r.exit_code == 1 and "scoped to North" in r.output
    # the pupil in scope can be changed as before
    r = run_cli_as("data-north", *h, "pupils", "consent", "withdraw", "P002", "website",
                   "--by", "Parent")
    assert r.exit_code == 0, r.output


def test_a_scoped_dsl_sees_only_their_academys_held_photos_and_audit(tmp_path,
                                                                     reference_encodings, photos):
    home = _home(tmp_path, reference_encodings, photos)
    h = ("--home", home.root)
    everything = _ids(run_cli_as("test-dsl", *h, "review", "list", "--json"))
    assert len(everything) == 1
    assert _ids(run_cli_as("dsl-north", *h, "review", "list", "--json")) == []
    r = run_cli_as("dsl-north", *h, "review", "show", everything[0])
    assert r.exit_code == 1 and "no such held image" in r.output
    r = run_cli_as("dsl-north", *h, "review", "reject", everything[0], "--reason", "x")
    assert r.exit_code == 1
    assert _ids(run_cli_as("test-dsl", *h, "review", "list", "--json")) == everything
    # audit: only entries about their academy's pupils
    r = run_cli_as("dsl-north", *h, "audit", "list", "--json")
    assert r.exit_code == 0, r.output
    subjects = {e["subject"] for e in json.loads(r.stdout)}
    assert subjects == {"P002"}
    r = run_cli_as("dsl-north", *h, "pupils", "register", "add", "P001", "lac")
    assert r.exit_code == 1 and "no pupil P001" in r.output


def test_the_review_page_shows_a_scoped_dsl_only_their_academy(tmp_path, tmp_path_factory,
                                                              reference_encodings):
    from support.review_support import PASSWORD, client, copy_home, review_template, sign_in

    template, ids = review_template(tmp_path_factory, reference_encodings)
    home = copy_home(template, tmp_path / "home")
    store = open_store(home)
    store.update_pupil("P001", academy="South", actor="test")
    store.update_pupil("P002", academy="North", actor="test")
    store.add_staff("dsl-north", "dsl", PASSWORD, actor="test", academy="North")
    with client(home) as c:
        sign_in(c, "dsl-north")
        queue = c.get("/")
        assert queue.status_code == 200
        for held_id in ids.values():
            assert held_id not in queue.text
            assert c.get(f"/held/{held_id}").status_code == 404
            assert c.get(f"/image/{held_id}/preview.jpg").status_code == 404
    with client(home) as c:  # a trust-wide DSL sees them all
        sign_in(c)
        page = c.get("/")
        assert all(held_id in page.text for held_id in ids.values())
        assert all(c.get(f"/image/{i}/preview.jpg").status_code == 200 for i in ids.values())
