"""The sign-off flow end to end in real headless Chromium against the real server, as a school
would meet it: sign-off configured for social, a photo dropped in the watched inbox with a
caption naming a child, held for the DSL. The DSL sees the caption and its findings and releases
the photo: it waits for sign-off instead of reaching ready. The senior leader sees the caption
badged in the list, cannot approve it in one click (the server refuses without the tick), and
declines it; comms staff see each outcome in the inbox's status file and in `safeguard status`.
The photo dropped in again with a corrected caption is processed (not a duplicate), released,
approved with the tick, and lands in ready."""

from __future__ import annotations

import pytest
from conftest import build_demo_home
from support.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium, review_server, submit, watch
from support.helpers import TEST_PASSWORD, accept_settings, json_lines, open_store, run_cli_as
from support.watch_helpers import status_json

pytestmark = [pytest.mark.model, pytest.mark.browser, needs_chromium]


@pytest.fixture
def school(tmp_path, reference_encodings, photos):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    home.config_file.write_text('[approval]\nsocial = "slt"\n')
    accept_settings(home)
    store = open_store(home)
    store.add_staff("test-slt", "slt", TEST_PASSWORD, actor="test")
    store.update_pupil("P002", groups=["4O"], actor="test")
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    return home, inbox, ready, (photos / "visit.jpg").read_bytes()


def _drop_and_watch(home, inbox, ready, data, caption) -> dict:
    (inbox / "trip.jpg").write_bytes(data)
    (inbox / "trip.txt").write_text(caption)
    r = run_cli_as("test-comms", "--home", home.root, "watch", inbox, "--ready", ready, "--once",
                   "--channel", "social", "--json", "--jobs", "1")
    [line] = json_lines(r.stdout)
    return line


def _last_status_line(inbox) -> str:
    return (inbox / "_safeguard-status.txt").read_text().splitlines()[-1]


def _sign_in(page, base, user, start, tmp_path):
    page.goto(base + "/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", TEST_PASSWORD)
    submit(page, "button[type=submit]", base + start, tmp_path)


def _release_for_sign_off(dsl, base, held_id, tmp_path) -> None:
    dsl.goto(f"{base}/held/{held_id}")
    assert "need sign-off" in dsl.inner_text("p.sign-off")
    assert dsl.locator("mark.flagged").count() >= 1  # the caption travels with the photo
    submit(dsl, "button[name=mode][value=redacted]", base + "/", tmp_path)
    assert "for sign-off" in dsl.locator("p.flash").inner_text()


def test_a_release_waits_for_sign_off_a_flagged_caption_needs_a_tick_and_outcomes_flow_back(
        school, tmp_path):
    from playwright.sync_api import sync_playwright

    from safeguard import approvals

    home, inbox, ready, data = school
    line = _drop_and_watch(home, inbox, ready, data, "Ben Example in 4O at the museum")
    assert line["status"] == "held", line
    with review_server(home.root, ready, tmp_path / "server.log") as base, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            dsl = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            slt = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            for page in (dsl, slt):
                page.set_default_timeout(90_000)
            watch(dsl)
            _sign_in(dsl, base, "test-dsl", "/", tmp_path)
            _sign_in(slt, base, "test-slt", "/approvals", tmp_path)

            # the DSL's release waits for sign-off: nothing reaches ready
            _release_for_sign_off(dsl, base, line["held_id"], tmp_path)
            assert not any(ready.iterdir())
            assert "released by the DSL: awaiting approval as post" in _last_status_line(inbox)
            counts = status_json(home.root)
            assert (counts["held"], counts["awaiting_approval"]) == (0, 1)

            # the flagged caption is badged in the list; one click does not approve it
            watch(slt)
            slt.goto(base + "/approvals")
            badge = slt.locator(".badge.caption-flagged")
            assert badge.count() == 1 and "full name" in badge.inner_text()
            [post] = [p["id"] for p in approvals.pending(home, scope=None)]
            submit(slt, f"a.pid[href='/approvals/{post}']", f"{base}/approvals/{post}", tmp_path)
            tick = slt.locator("input[name=caption_ok]")
            assert tick.get_attribute("required") is not None
            csrf = slt.locator("form[action$='/approve'] input[name=csrf]").input_value()
            refused = slt.request.post(f"{base}/approvals/{post}/approve",
                                       form={"csrf": csrf, "note": ""}, max_redirects=0)
            assert refused.status == 303 and "identifies" in refused.headers["location"]
            assert not any(ready.iterdir())

            # declined, with a reason that names the child: comms see that, not the name
            slt.fill("input[name=reason]", "Ben Example is named in the caption")
            submit(slt, "button[value=decline]", base + "/approvals", tmp_path)
            last = _last_status_line(inbox)
            assert "declined at sign-off" in last and "Ben Example" not in last
            counts = status_json(home.root)
            assert counts["awaiting_approval"] == 0 and counts["decided_today"]["declined"] == 1

            # dropped in again with a corrected caption: processed, not a duplicate
            again = _drop_and_watch(home, inbox, ready, data, "Our class 4O at the museum")
            assert again["status"] == "held", again
            _release_for_sign_off(dsl, base, again["held_id"], tmp_path)
            [post2] = [p["id"] for p in approvals.pending(home, scope=None)]

            # still flagged (the class): approved with the tick, it lands in ready
            slt.goto(base + "/approvals")
            assert "class name" in slt.locator(".badge.caption-flagged").inner_text()
            submit(slt, f"a.pid[href='/approvals/{post2}']", f"{base}/approvals/{post2}",
                   tmp_path)
            slt.check("input[name=caption_ok]")
            submit(slt, "button[value=approve]", base + "/approvals", tmp_path)
            assert "Approved" in slt.locator("p.flash").inner_text()
        finally:
            browser.close()
    assert [p.name for p in ready.iterdir()] == ["trip.jpg"]
    assert "approved at sign-off: ready as trip.jpg" in _last_status_line(inbox)
    counts = status_json(home.root)
    assert counts["ready_today"] == 1 and counts["decided_today"]["approved"] == 1
    [e] = [e for e in open_store(home).audit.entries() if e["action"] == "approval.approved"]
    assert e["actor"] == "test-slt" and e["details"]["caption_confirmed"] is True
