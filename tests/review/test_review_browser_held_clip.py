"""A held clip in real headless Chromium against the real server: the DSL opens it, the clip with
its tracks outlined plays (the browser decodes it: the page's Content-Security-Policy and the
server's ranges allow it), each track's best frames are shown, and "Release redacted" writes the
clip into the ready folder with no sound and the held original destroyed."""

from __future__ import annotations

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium, review_server, submit, watch
from support.held_clip import FRAMES, hold_clip
from support.review_support import DSL, PASSWORD, copy_home, review_template

pytestmark = [pytest.mark.model, pytest.mark.browser, needs_chromium]


def test_a_held_clip_plays_with_its_tracks_and_is_released_in_chromium(
        tmp_path, tmp_path_factory, reference_encodings):
    import av
    from playwright.sync_api import sync_playwright

    template, _ = review_template(tmp_path_factory, reference_encodings)
    home = copy_home(template, tmp_path / "home")
    held_id = hold_clip(home, tmp_path / "clips").held_id
    ready = tmp_path / "ready"
    ready.mkdir()
    with review_server(home.root, ready, tmp_path / "server.log") as base, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            watch(page)
            page.goto(base + "/")
            page.fill("input[name=user]", DSL)
            page.fill("input[name=password]", PASSWORD)
            submit(page, "button[type=submit]", base + "/", tmp_path)
            submit(page, f"a.hid[href='/held/{held_id}']", f"{base}/held/{held_id}", tmp_path)
            video = page.locator("video.tracks")
            page.wait_for_function(
                "() => { const v = document.querySelector('video.tracks');"
                " return v.readyState >= 2 && v.videoWidth > 0; }", timeout=120_000)
            assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [640, 360]
            assert video.evaluate("v => v.error") is None
            video.evaluate("v => v.play()")
            page.wait_for_function(
                "() => document.querySelector('video.tracks').currentTime > 0.2")
            strips = page.locator("img.strip")
            assert strips.count() >= 2
            for i in range(strips.count()):
                strips.nth(i).scroll_into_view_if_needed()
                page.wait_for_function("i => i.complete && i.naturalWidth > 0",
                                       arg=strips.nth(i).element_handle())
            assert "Ada Example" in page.content()
            page.screenshot(path=str(tmp_path / "clip-page.png"), full_page=True)
            assert page.locator("select[name=folder] option:checked").inner_text() == \
                "Ready to post"  # picked from a list, never typed
            submit(page, "button[name=mode][value=redacted]", base + "/", tmp_path)
            assert "Released" in page.locator("p.flash").inner_text()
        finally:
            browser.close()
    [out] = list(ready.iterdir())
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video"]
        assert sum(1 for _ in c.decode(video=0)) == FRAMES
    assert not (home.held_dir / held_id / "original").exists()
