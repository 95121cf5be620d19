"""A consent withdrawal finds already-published photos; the DSL sees them on the review page and
closes the list, with an audit entry."""

import pytest
from support.helpers import open_store
from support.index_support import home_copy, indexed_template
from support.review_support import DSL, PASSWORD, client, csrf_of, sign_in

pytestmark = pytest.mark.model


def test_withdrawal_hits_appear_on_the_review_page_and_can_be_closed(
        tmp_path, tmp_path_factory, reference_encodings):
    from safeguard import takedown
    from safeguard.index import on_consent_change

    template, _archive = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    store = open_store(home)
    store.add_staff(DSL, "dsl", PASSWORD, actor="test")
    store.withdraw_consent("P001", "website", by="parent", actor="test")
    on_consent_change(home, "P001", "consent withdrawn: website")
    [item] = takedown.list_items(home, open_only=True)
    assert {h["path"].rsplit("/", 1)[-1] for h in item["hits"]} >= {"assembly.jpg", "visit.jpg"}

    c = client(home)
    assert c.get("/").status_code in (302, 303, 401)  # nothing without a session
    sign_in(c)
    page = c.get("/takedowns")
    assert "Published photos to take down" in page.text
    assert "Ada Example" in page.text and "assembly.jpg" in page.text

    forged = c.post(f"/takedown/{item['id']}/close", data={"csrf": "nope", "note": "x"})
    assert forged.status_code == 403
    done = c.post(f"/takedown/{item['id']}/close",
                  data={"csrf": csrf_of(page.text), "note": "removed from the website"})
    assert done.status_code == 303
    assert takedown.list_items(home, open_only=True) == []
    assert "Nothing is waiting to be taken down" in c.get("/takedowns").text
    entries = [e for e in store.audit.entries(pupil="P001") if e["action"] == "takedown.closed"]
    assert entries and entries[-1]["actor"] == DSL


def test_the_cli_lists_and_closes_takedowns_for_a_signed_in_dsl(
        tmp_path, tmp_path_factory, reference_encodings, monkeypatch):
    import json

    from support.helpers import open_store, run_cli, run_cli_env

    from safeguard.index import on_consent_change

    template, _archive = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    open_store(home).add_staff(DSL, "dsl", PASSWORD, actor="test")
    on_consent_change(home, "P002", "protected register added")

    no_sign_in = {"SAFEGUARD_USER": None, "SAFEGUARD_PASSWORD": None}
    assert run_cli_env(no_sign_in, "--home", home.root, "review", "takedowns").exit_code == 1
    monkeypatch.setenv("SAFEGUARD_PASSWORD", PASSWORD)
    r = run_cli("--home", home.root, "review", "takedowns", "--as", DSL, "--json")
    assert r.exit_code == 0, r.output
    [item] = json.loads(r.stdout)
    assert item["pupil"] == "P002" and item["hits"]
    # the match in words; the figure only for the DSL who asks for it
    plain = run_cli("--home", home.root, "review", "takedowns", "--as", DSL).stdout
    assert "match" in plain and "distance" not in plain
    figures = run_cli("--home", home.root, "review", "takedowns", "--as", DSL, "--distances")
    assert "distance 0." in figures.stdout
    r = run_cli("--home", home.root, "review", "close-takedown", item["id"], "--as", DSL,
                "--note", "done")
    assert r.exit_code == 0, r.output
    r = run_cli("--home", home.root, "review", "takedowns", "--as", DSL, "--json")
    assert json.loads(r.stdout) == []
