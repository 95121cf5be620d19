"""A DSL removed from the staff accounts kept the review page and its audit log for up to eight
hours (the session's lifetime). Every request now checks the account's stamp: removed, re-made
under the same name, or given another role, the session ends at its next request."""

from __future__ import annotations

import pytest
from support.helpers import TEST_PASSWORD, open_store
from support.review_support import csrf_of
from support.store_fixtures import make_home

from safeguard.config import Config

DSL = "test-dsl"


@pytest.fixture
def signed_in(tmp_path):
    from starlette.testclient import TestClient

    from safeguard.review.app import create_app

    home = make_home(tmp_path)
    store = open_store(home)
    c = TestClient(create_app(home, Config(), allowed_hosts=["testserver"]),
                   follow_redirects=False)
    page = c.get("/login")
    r = c.post("/login", data={"csrf": csrf_of(page.text), "user": DSL, "password": TEST_PASSWORD})
    assert r.status_code == 303
    assert c.get("/").status_code == 200 and c.get("/audit").status_code == 200
    return store, c


def test_a_removed_dsl_loses_the_review_page_at_once(signed_in):
    store, c = signed_in
    store.remove_staff(DSL, actor="test-admin")
    assert c.get("/audit").status_code == 303
    assert c.get("/").status_code == 303


def test_a_dsl_re_made_with_another_role_loses_the_old_session(signed_in):
    store, c = signed_in
    store.remove_staff(DSL, actor="test-admin")
    store.add_staff(DSL, "slt", TEST_PASSWORD, actor="test-admin")
    assert c.get("/audit").status_code == 303
    assert c.get("/approvals").status_code == 303  # signed out, not an slt session


def test_a_dsl_given_another_role_or_academy_loses_the_old_session(signed_in):
    store, c = signed_in
    store.change_staff(DSL, actor="test-admin", role="data")
    assert c.get("/audit").status_code == 303


def test_a_dsl_moved_to_one_academy_loses_the_trust_wide_session(signed_in, tmp_path):
    from support.helpers import run_cli_env

    store, c = signed_in
    r = run_cli_env({"SAFEGUARD_USER": "test-admin", "SAFEGUARD_PASSWORD": TEST_PASSWORD},
                    "--home", store.folder.parent, "staff", "change", DSL, "--academy", "North")
    assert r.exit_code == 0 and "academy North" in r.output, r.output
    assert c.get("/audit").status_code == 303
    assert "staff.change" in [e["action"] for e in store.audit.entries(pupil=DSL)]


def test_an_unchanged_account_keeps_its_session(signed_in):
    store, c = signed_in
    store.add_pupil("P001", "Ada Example", actor="test-admin")  # other changes do not sign out
    assert c.get("/audit").status_code == 200
