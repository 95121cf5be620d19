"""An account may carry the person's name (`staff add --name`, `staff change --name`, audited):
the audit page's sentences use it beside the account ("Jo Lead (dsl.lead) released photo ...").
A new name changes nobody's access, so it ends no review-page session; control characters are
refused."""

from __future__ import annotations

import pytest
from support.helpers import open_store, run_cli_as
from support.review_support import DSL, PASSWORD, client, sign_in

from consent_db.errors import StoreError


def test_the_audit_page_says_who_by_name_where_one_is_set(demo_home):
    store = open_store(demo_home)
    r = run_cli_as("test-admin", "--home", demo_home.root, "staff", "add", DSL, "--role", "dsl",
                   "--name", "Jo  Lead", env={"SAFEGUARD_NEW_PASSWORD": PASSWORD})
    assert r.exit_code == 0, r.output
    assert "(Jo Lead)" in run_cli_as("test-admin", "--home", demo_home.root, "staff",
                                       "list").output
    store.audit.append(DSL, "held.release", "P001", {
        "held_id": "20261207-aaaabbbbcccc", "decision": "redacted",
        "faces": [{"n": 1, "redacted": True}]})
    c = client(demo_home)
    sign_in(c)
    page = c.get("/audit").text
    assert f"Jo Lead ({DSL}) released photo 20261207-aaaabbbbcccc with 1 face blurred" in page
    # a new name: audited, and the DSL's session goes on
    r = run_cli_as("test-admin", "--home", demo_home.root, "staff", "change", DSL,
                   "--name", "Jo Lead-Smith")
    assert r.exit_code == 0, r.output
    page = c.get("/audit")
    assert page.status_code == 200 and f"Jo Lead-Smith ({DSL}) released photo" in page.text
    [change] = [e for e in store.audit.entries() if e["action"] == "staff.change"]
    assert change["details"]["display_name"] == "Jo Lead-Smith"
    assert store.list_staff()[[s["user"] for s in store.list_staff()].index(DSL)]["role"] == "dsl"


def test_a_display_name_with_control_characters_or_too_long_is_refused(demo_home):
    store = open_store(demo_home)
    for bad in ("Jo\x1b]0;x\x07", "Jo\u202eLead", "J" * 65):
        with pytest.raises(StoreError):
            store.add_staff("someone", "dsl", PASSWORD, actor="test", display_name=bad)
    assert "someone" not in {s["user"] for s in store.list_staff()}
