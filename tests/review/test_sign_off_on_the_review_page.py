"""A senior leader (role slt) signs in to the sign-off
pages only, sees each waiting post's redacted copies and its caption with what identifies a child
highlighted, and approves (the copies land where they were meant to) or declines with a reason
(they are destroyed). Held photos, registers and the audit log stay the DSL's."""

from __future__ import annotations

import pytest
from support.helpers import TEST_PASSWORD, accept_settings, json_lines, open_store, run_cli_as
from support.review_support import client, csrf_of, sign_in

pytestmark = pytest.mark.model


def _post(home, photos, tmp_path, caption="Well done Ada Example at the museum!"):
    home.config_file.write_text('[approval]\nsocial = "slt"\n')
    accept_settings(home)
    open_store(home).add_staff("test-slt", "slt", TEST_PASSWORD, actor="test")
    (tmp_path / "caption.txt").write_text(caption)
    out = tmp_path / "out"
    r = run_cli_as("test-comms", "--home", home.root, "blur", photos / "visit.jpg", "--out", out,
                   "--channel", "social", "--json", "--jobs", "1",
                   "--caption", tmp_path / "caption.txt")
    [line] = json_lines(r.stdout)
    assert line["approval"], r.output
    return line["approval"], out


def test_a_senior_leader_sees_only_sign_off_and_approves(demo_home, photos, tmp_path):
    post, out = _post(demo_home, photos, tmp_path)
    c = client(demo_home)
    r = sign_in(c, "test-slt", TEST_PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/approvals"
    # the DSL's pages are not theirs
    assert c.get("/").headers["location"] == "/approvals"
    assert c.get("/audit").status_code == 303
    assert c.get("/image/20260101-000000-abcdef/thumb.jpg").status_code in (401, 404)
    listing = c.get("/approvals")
    assert listing.status_code == 200 and post in listing.text
    page = c.get(f"/approvals/{post}")
    assert page.status_code == 200
    # the full name is highlighted and said to be one; nothing says consent or register
    assert '<mark class="flagged" title="a pupil&#39;s full name">Ada Example</mark>' in page.text
    assert "register" not in page.text.lower() and "consent" not in page.text.lower()
    img = c.get(f"/approvals/{post}/copy/0.jpg")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert c.get(f"/approvals/{post}/copy/1.jpg").status_code == 404
    # a form without the session's token is refused
    assert c.post(f"/approvals/{post}/approve", data={"csrf": "x"}).status_code == 403
    assert not out.exists() or not any(out.iterdir())
    # the caption names a child: the list badges it, and one click does not approve it
    assert "caption flagged: a pupil&#39;s full name" in listing.text
    r = c.post(f"/approvals/{post}/approve", data={"csrf": csrf_of(page.text), "note": "ok"})
    assert r.status_code == 303 and "identifies" in r.headers["location"]
    assert not out.exists() or not any(out.iterdir())
    r = c.post(f"/approvals/{post}/approve", data={"csrf": csrf_of(page.text), "note": "ok",
                                                  "caption_ok": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/approvals"
    assert [p.name for p in out.iterdir()] == ["visit.jpg"]
    assert "Approved" in c.get("/approvals").text
    # decided: no copy is drawn any more, and it cannot be decided twice
    assert c.get(f"/approvals/{post}/copy/0.jpg").status_code == 404
    again = c.post(f"/approvals/{post}/decline", data={"csrf": csrf_of(page.text),
                                                      "reason": "changed my mind"})
    assert "already+decided" in again.headers["location"] or \
        "already%20decided" in again.headers["location"]
    entries = open_store(demo_home).audit.entries()
    [e] = [e for e in entries if e["action"] == "approval.approved"]
    assert e["actor"] == "test-slt" and e["details"]["post"] == post
    assert e["details"]["caption_confirmed"] is True


def test_a_decline_needs_a_reason_and_publishes_nothing(demo_home, photos, tmp_path):
    from safeguard import approvals

    post, out = _post(demo_home, photos, tmp_path, caption="Our trip")
    c = client(demo_home)
    sign_in(c, "test-dsl", TEST_PASSWORD)
    page = c.get(f"/approvals/{post}")
    assert "Nothing in the caption identifies a child" in page.text
    token = csrf_of(page.text)
    r = c.post(f"/approvals/{post}/decline", data={"csrf": token, "reason": ""})
    assert "typed+reason" in r.headers["location"] or "typed%20reason" in r.headers["location"]
    assert approvals.get(demo_home, post)["state"] == approvals.AWAITING
    r = c.post(f"/approvals/{post}/decline", data={"csrf": token, "reason": "wrong event"})
    assert r.headers["location"] == "/approvals"
    assert approvals.get(demo_home, post)["state"] == approvals.DECLINED
    assert not any((approvals.folder(demo_home) / post / "files").iterdir())
    assert not out.exists() or not any(out.iterdir())


def test_comms_staff_cannot_sign_in_to_sign_off(demo_home, photos, tmp_path):
    post, _ = _post(demo_home, photos, tmp_path)
    c = client(demo_home)
    r = sign_in(c, "test-comms", TEST_PASSWORD)
    assert r.status_code == 401
    assert c.get(f"/approvals/{post}").headers["location"] == "/login"
    assert c.get(f"/approvals/{post}/copy/0.jpg").status_code == 401


def test_an_approver_of_another_academy_finds_no_such_post(demo_home, photos, tmp_path):
    """On the review page as at the command line: a DSL or senior leader scoped to another
    academy is shown neither the post, its caption nor its copies, and cannot decide it."""
    from safeguard import approvals

    store = open_store(demo_home)
    store.add_staff("south-slt", "slt", TEST_PASSWORD, actor="test", academy="South")
    post, out = _post(demo_home, photos, tmp_path)  # made by a trust-wide account
    c = client(demo_home)
    sign_in(c, "south-slt", TEST_PASSWORD)
    listing = c.get("/approvals")
    assert listing.status_code == 200 and post not in listing.text
    page = c.get(f"/approvals/{post}")
    assert page.status_code == 404 and "Ada Example" not in page.text
    assert c.get(f"/approvals/{post}/copy/0.jpg").status_code == 404
    r = c.post(f"/approvals/{post}/approve", data={"csrf": csrf_of(listing.text)})
    assert r.status_code == 303
    assert "no%20such%20post" in r.headers["location"] or "no+such+post" in r.headers["location"]
    assert approvals.get(demo_home, post)["state"] == approvals.AWAITING
    assert not out.exists() or not any(out.iterdir())
