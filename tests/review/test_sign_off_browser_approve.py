"""With approval = "slt", nothing reaches the folder until approved; in real
headless Chromium against the real server a senior leader signs in, opens the post (caption
flagged, copy drawn), approves it, and the copy lands stripped in the folder it was meant for."""

from __future__ import annotations

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium, review_server, submit, watch
from support.helpers import TEST_PASSWORD, accept_settings, json_lines, open_store, run_cli_as

pytestmark = [pytest.mark.model, pytest.mark.browser, needs_chromium]


@pytest.fixture
def waiting_post(demo_home, photos, tmp_path):
    demo_home.config_file.write_text('[approval]\nsocial = "slt"\n')
    accept_settings(demo_home)
    open_store(demo_home).add_staff("test-slt", "slt", TEST_PASSWORD, actor="test")
    (tmp_path / "caption.txt").write_text("Ada Example and friends in the garden")
    out = tmp_path / "out"
    r = run_cli_as("test-comms", "--home", demo_home.root, "blur", photos / "visit.jpg",
                   "--out", out, "--channel", "social", "--json", "--jobs", "1",
                   "--caption", tmp_path / "caption.txt")
    [line] = json_lines(r.stdout)
    assert line["approval"] and line["output"] is None
    return demo_home, line["approval"], out


def test_senior_leader_approves_a_post_in_chromium(waiting_post, tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    home, post, out = waiting_post
    assert not out.exists() or not any(out.iterdir())
    (tmp_path / "ready").mkdir()
    with review_server(home.root, tmp_path / "ready", tmp_path / "server.log") as base, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(90_000)
            watch(page)
            page.goto(base + "/approvals")
            assert page.url == base + "/login"
            page.fill("input[name=user]", "test-slt")
            page.fill("input[name=password]", TEST_PASSWORD)
            submit(page, "button[type=submit]", base + "/approvals", tmp_path)
            assert "Held photos" not in page.inner_text("header")  # the DSL's, not theirs
            submit(page, f"a.pid[href='/approvals/{post}']", f"{base}/approvals/{post}", tmp_path)
            assert page.locator("mark.flagged").inner_text() == "Ada Example"
            img = page.locator(f"img[src='/approvals/{post}/copy/0.jpg']")
            img.wait_for()
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
            page.fill("input[name=note]", "fine to post")
            page.check("input[name=caption_ok]")  # the caption names a child: read and agreed
            submit(page, "button[value=approve]", base + "/approvals", tmp_path)
            assert "Approved" in page.locator("p.flash").inner_text()
        finally:
            browser.close()
    [copy] = list(out.iterdir())
    with Image.open(copy) as im:
        assert not im.getexif() and "exif" not in im.info
    [e] = [e for e in open_store(home).audit.entries() if e["action"] == "approval.approved"]
    assert e["actor"] == "test-slt"
