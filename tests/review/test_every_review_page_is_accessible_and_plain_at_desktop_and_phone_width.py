"""Every page of the review app in real headless Chromium, at 1280 and 390 px wide: a screenshot
of each (under the test's tmp folder; SAFEGUARD_SCREENSHOT_DIR copies them somewhere to look at),
no serious or critical finding from the accessibility checker (axe-core, bundled by the PyPI
package axe-playwright-python and run in the page), nothing wider than the screen, and, to a
reader who did not open "show the figure" or "show the record", no distance figure, no typed
path and no raw JSON."""

from __future__ import annotations

import hashlib
import os
import re
import shutil

import pytest
from conftest import SAMPLES
from support.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium, review_server, submit, watch
from support.helpers import TEST_PASSWORD, accept_settings, json_lines, open_store, run_cli_as

pytestmark = [pytest.mark.model, pytest.mark.browser, needs_chromium]

WIDTHS = (1280, 390)
DSL = "test-dsl"
FIGURE = re.compile(r"(?<![\d.])[01]\.\d\d")  # a face distance, as the pages used to show it


@pytest.fixture
def school(demo_home, photos, tmp_path):
    """A home with something on every page: a post waiting for sign-off (its caption naming a
    pupil), a held photo and a held clip of a pupil on the CP register, a takedown list with a
    published copy, and audit entries of each."""
    from support.held_clip import hold_clip

    from safeguard import takedown

    home = demo_home
    home.config_file.write_text('spot_check_rate = 0.0\n[approval]\nsocial = "slt"\n')
    accept_settings(home)
    (tmp_path / "caption.txt").write_text("Ada Example and friends at the museum")
    r = run_cli_as("test-comms", "--home", home.root, "blur", photos / "visit.jpg", "--out",
                   tmp_path / "out", "--channel", "social", "--json", "--jobs", "1",
                   "--caption", tmp_path / "caption.txt")
    [post] = json_lines(r.stdout)
    assert post["approval"], r.output
    open_store(home).add_register("P001", "cp", actor=DSL)
    r = run_cli_as("test-comms", "--home", home.root, "blur", photos / "assembly.jpg", "--out",
                   tmp_path / "out", "--channel", "social", "--json", "--jobs", "1")
    [held] = json_lines(r.stdout)
    assert held["status"] == "held", r.output
    clip = hold_clip(home, tmp_path / "clips").held_id
    site = tmp_path / "website"
    site.mkdir()
    shutil.copy(SAMPLES / "photos" / "visit.jpg", site / "visit.jpg")
    takedown.add(home, "P001", "protected register added", [{
        "path": str(site / "visit.jpg"),
        "sha256": hashlib.sha256((site / "visit.jpg").read_bytes()).hexdigest(),
        "distance": 0.3127, "box": [40, 40, 160, 160],
        "faces": [{"box": [40, 40, 160, 160], "distance": 0.3127}]}], photos_searched=3)
    [item] = takedown.ids(home)
    ready = tmp_path / "ready"
    ready.mkdir()
    return home, ready, {"post": post["approval"], "held": held["held_id"], "clip": clip,
                         "takedown": item}


def _serious(results) -> list[str]:
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


def _check(page, name: str, width: int, shots, axe) -> list[str]:
    """Screenshot `page` and return what is wrong with it."""
    problems = []
    page.wait_for_load_state("load")
    # lazy pictures too: every picture on the page drawn before the screenshot
    page.evaluate("Promise.all(Array.from(document.images).map(i => i.decode().catch(() => 0)))")
    broken = page.eval_on_selector_all("img", "els => els.filter(i => !i.naturalWidth)"
                                       ".map(i => i.getAttribute('src'))")
    if broken:
        problems.append(f"{name} at {width} px: pictures not drawn: {broken}")
    page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
    wide = page.evaluate("document.documentElement.scrollWidth")
    if wide > width + 1:
        problems.append(f"{name} at {width} px: {wide} px wide, scrolls sideways")
    results = axe.run(page)
    problems += [f"{name} at {width} px: {p}" for p in _serious(results)]
    text = page.inner_text("body")
    if FIGURE.search(text) or "distance" in text.lower():
        problems.append(f"{name} at {width} px: a distance figure is shown: "
                        f"{FIGURE.search(text) or 'distance'}")
    if '{"' in text or '"actor"' in text or "held.release" in text:
        problems.append(f"{name} at {width} px: raw JSON or an audit code is shown")
    typed = page.locator("input[name=out], input[name=ready], input[name=path], "
                         "input[name=folder], textarea[name=out]").count()
    values = page.eval_on_selector_all(
        "input:not([type=hidden])", "els => els.map(e => e.value).filter(v => v.startsWith('/'))")
    if typed or values:
        problems.append(f"{name} at {width} px: a typed path ({typed} fields, {values})")
    return problems


def test_every_page_passes_axe_and_shows_words_at_desktop_and_phone_width(school, tmp_path):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    home, ready, ids = school
    shots = tmp_path / "screenshots"
    shots.mkdir()
    axe = Axe()
    pages = {
        "queue": "/",
        "held-photo": f"/held/{ids['held']}",
        "held-clip": f"/held/{ids['clip']}",
        "takedowns": "/takedowns",
        "audit": "/audit",
        "audit-sign-ins": "/audit?signins=1",
        "sign-off": "/approvals",
        "post": f"/approvals/{ids['post']}",
    }
    problems: list[str] = []
    with review_server(home.root, ready, tmp_path / "server.log") as base, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for width in WIDTHS:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.set_default_timeout(90_000)
                watch(page)
                page.goto(base + "/login")
                problems += _check(page, "sign-in", width, shots, axe)
                page.fill("input[name=user]", DSL)
                page.fill("input[name=password]", TEST_PASSWORD)
                submit(page, "button[type=submit]", base + "/", tmp_path)
                for name, url in pages.items():
                    page.goto(base + url)
                    problems += _check(page, name, width, shots, axe)
                # the figure and the record are there for whoever asks
                page.goto(base + f"/held/{ids['held']}")
                page.locator("details.figure summary").first.click()
                assert "face distance" in page.inner_text("main")
                page.goto(base + "/audit")
                page.locator("details.record summary").first.click()
                assert '"actor"' in page.inner_text("main")
                page.close()
        finally:
            browser.close()
    keep = os.environ.get("SAFEGUARD_SCREENSHOT_DIR")
    if keep:
        shutil.copytree(shots, keep, dirs_exist_ok=True)
    assert len(list(shots.glob("*.png"))) == 2 * (len(pages) + 1)
    assert not problems, "\n".join(problems)
