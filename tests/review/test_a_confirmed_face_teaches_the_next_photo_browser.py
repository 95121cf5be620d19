"""Every confirmed face teaches it, end to end in real headless Chromium against the real server:
comms staff send a photo in which a consenting pupil's face is blurred to the DSL
(`blur --ask-dsl`); the DSL confirms the face on the review page; the release keeps it; the same
pupil's next photo (another sample of her) is cleared without help; `pupils references` shows
the confirmed reference; removing it restores the earlier decision."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SAMPLES
from support.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium, review_server, submit, watch
from support.confirm_support import school
from support.helpers import (
    TEST_PASSWORD,
    TEST_USER,
    json_lines,
    min_distance,
    region_encoding,
    run_cli,
    run_cli_as,
)

pytestmark = [pytest.mark.model, pytest.mark.browser, needs_chromium]


def ada_face(photo, out) -> dict:
    """Ada's face in the `blur --json` line of `photo` into `out`, as comms staff see it."""
    r = run_cli_as("test-comms", "blur", photo, "--out", out, "--json", "--jobs", "1")
    [line] = json_lines(r.output)
    [face] = [f for f in line["faces"] if f["box"][0] > 500]  # visit.jpg: Ada alone, on the right
    return face


def test_the_dsl_confirms_a_blurred_pupil_and_her_next_photo_is_cleared(
        tmp_path, reference_encodings, monkeypatch):
    from playwright.sync_api import sync_playwright

    from safeguard.held import HeldQueue
    from safeguard.images import load_image

    home = school(tmp_path / "home", reference_encodings)
    monkeypatch.setenv("SAFEGUARD_HOME", str(home.root))
    trip, ready = tmp_path / "trip", tmp_path / "ready"
    trip.mkdir()
    ready.mkdir()
    shutil.copy(SAMPLES / "photos" / "assembly.jpg", trip / "assembly.jpg")
    # before: Ada's next photo is blurred (her one reference is too far from it)
    assert ada_face(SAMPLES / "photos" / "visit.jpg", tmp_path / "before")["action"] == "redact"
    r = run_cli_as("test-comms", "blur", trip, "--out", ready, "--ask-dsl", "--json", "--jobs",
                   "1", "--note", "Year 4 trip, all consented")
    assert r.exit_code == 3, r.output
    held_id = json_lines(r.output)[0]["held_id"]
    rec = HeldQueue(home.held_dir).record(held_id)
    [n] = [i + 1 for i, f in enumerate(rec["faces"]) if f["label"] != "cleared"]

    with review_server(home.root, ready, tmp_path / "server.log") as base, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(90_000)
            watch(page)
            page.goto(base + "/login")
            page.fill("input[name=user]", TEST_USER)
            page.fill("input[name=password]", TEST_PASSWORD)
            submit(page, "button[type=submit]", base + "/", tmp_path)
            assert "sent by comms staff to check" in page.content()
            submit(page, f"a.hid[href='/held/{held_id}']", f"{base}/held/{held_id}", tmp_path)
            assert "Year 4 trip, all consented" in page.content()
            button = f"#confirm-{n} button[name=choice][value=P001]"
            assert "possible match" in page.locator(f"#confirm-{n}").inner_text()
            submit(page, button, f"{base}/held/{held_id}", tmp_path)
            flash = page.locator("p.flash").inner_text()
            assert "Ada Example (P001): kept in the release" in flash, flash
            assert "added to their references" in flash
            loc = page.locator(f"img[src='/image/{held_id}/preview.jpg']")
            loc.wait_for()
            assert loc.evaluate("i => i.complete && i.naturalWidth > 0")
            page.screenshot(path=str(tmp_path / "confirmed.png"), full_page=True)
            submit(page, "button[name=mode][value=redacted]", base + "/", tmp_path)
            assert "Released" in page.locator("p.flash").inner_text()
        finally:
            browser.close()

    # the release kept Ada's face, and went back to the batch's folder
    [copy] = list(ready.iterdir())
    left = region_encoding(load_image(copy).rgb, rec["faces"][n - 1]["box"])
    assert left is not None and min_distance(left, reference_encodings["ada"]) < 0.5
    # her next photo is cleared without help
    assert ada_face(SAMPLES / "photos" / "visit.jpg", tmp_path / "after")["action"] == "keep"
    # the reference is listed, confirmed by the DSL; removed, the earlier decision is back
    r = run_cli("pupils", "references", "P001", "--json")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.output)
    refs = listed["references"] if isinstance(listed, dict) else listed
    [confirmed] = [x for x in refs if x.get("source") == "confirmation"]
    assert confirmed.get("by") == TEST_USER
    r = run_cli("pupils", "references", "P001", "--remove", confirmed["id"])
    assert r.exit_code == 0, r.output
    assert ada_face(SAMPLES / "photos" / "visit.jpg", tmp_path / "removed")["action"] == "redact"
