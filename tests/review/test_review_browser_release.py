"""End to end in real headless Chromium against the real server (`safeguard review serve`): sign
in, open a held photo, release it redacted, then find the file in the ready folder (stripped, the
register pupil's face redacted) and the decision in the audit log and on the audit page.

Needs Debian's `chromium` at /usr/bin/chromium (Playwright drives it; `playwright install` is not
used). Skipped, with the reason shown, when it is absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.helpers import min_distance, open_store, region_encoding
from support.review_support import (
    DSL,
    PASSWORD,
    copy_home,
    review_template,
)

CHROMIUM = Path(os.environ.get("SAFEGUARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} not found (Debian package: chromium)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, tmp_path_factory, reference_encodings):
    template, ids = review_template(tmp_path_factory, reference_encodings)
    root = copy_home(template, tmp_path / "home").root
    ready = tmp_path / "ready"
    ready.mkdir()
    port = _free_port()
    env = dict(os.environ, SAFEGUARD_HOME=str(root))
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeguard.cli", "review", "serve", "--port", str(port),
             "--out", str(ready)],  # the page releases only here (finding 16)
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for(port, proc, tmp_path / "server.log")
            yield f"http://127.0.0.1:{port}", root, ids, ready
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not start: " + log.read_text())
            time.sleep(0.2)


def _submit(page, selector: str, expected_url: str, tmp_path: Path) -> None:
    """Click something that navigates and wait for the document it leads to. The wait is set up
    before the click, so a fast server cannot finish first. Twice in full CI runs a sign-in click
    led nowhere for two minutes (never seen in isolation, under load or here): when no navigation
    starts within 45 s, what the browser shows and what the server logged are printed, and the
    click is made once more. Ending anywhere else fails with the same diagnostics. (They showed a
    third failure: sign-in answered 403, a cookieless favicon request having replaced the session
    cookie; see test_review_sign_in_survives_the_browsers_own_requests.py.)"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in (1, 2):
        try:
            with page.expect_navigation(wait_until="domcontentloaded", timeout=45_000) as nav:
                page.click(selector)
            status = nav.value.status if nav.value is not None else None
            if page.url == expected_url:
                return
            problem = f"navigated to {page.url} (HTTP {status})"
            break
        except PlaywrightTimeout:
            problem = f"no navigation within 45 s (attempt {attempt})"
            print(f"{selector}: {problem}\n{_diagnostics(page, tmp_path)}", file=sys.stderr)
    pytest.fail(
        f"clicking {selector} should lead to {expected_url}: {problem}\n"
        f"{_diagnostics(page, tmp_path)}"
    )


# what the browser reported going wrong (failed requests, console errors), for _diagnostics
_EVENTS: list[str] = []


def _watch(page) -> None:
    _EVENTS.clear()
    page.on("requestfailed", lambda r: _EVENTS.append(f"failed {r.method} {r.url}: {r.failure}"))
    page.on("console", lambda m: m.type == "error" and _EVENTS.append(f"console: {m.text}"))
    page.on(
        "response",
        lambda r: (
            r.request.is_navigation_request()
            and _EVENTS.append(f"{r.request.method} {r.url} -> {r.status}")
        ),
    )


def _diagnostics(page, tmp_path: Path) -> str:
    try:
        text = page.inner_text("body", timeout=5_000)[:600]
    except Exception as e:  # noqa: BLE001 - diagnostics only
        text = f"(page unreadable: {e})"
    log = (tmp_path / "server.log").read_text(errors="replace")[-3000:]
    return (
        f"page is at {page.url}\npage text: {text!r}\nbrowser: {_EVENTS[-12:]}\nserver log:\n{log}"
    )


def test_sign_in_open_release_redacted_in_chromium(server, tmp_path, reference_encodings):
    from playwright.sync_api import sync_playwright

    from safeguard.home import Home
    from safeguard.images import load_image

    base, root, ids, ready = server
    held_id = ids["assembly.jpg"]
    from safeguard.held import HeldQueue

    rec = HeldQueue(root / "held").record(held_id)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            # The CI machine has two cores shared with the whole suite: a first page that draws
            # thumbnails can take a while; wait for the document, not for every image.
            page.set_default_timeout(90_000)
            _watch(page)
            # without a session: the image is refused, the queue sends us to sign in
            assert page.goto(f"{base}/image/{held_id}/annotated.jpg").status == 401
            page.goto(base + "/")
            assert page.url == base + "/login"
            page.fill("input[name=user]", DSL)
            page.fill("input[name=password]", PASSWORD)
            _submit(page, "button[type=submit]", base + "/", tmp_path)
            assert page.locator(f"a[href='/held/{held_id}']").count() >= 1
            assert "CP register" in page.content()
            _submit(page, f"a.hid[href='/held/{held_id}']", f"{base}/held/{held_id}", tmp_path)
            # both pictures were drawn and served (the CSP allowed them)
            for img in ("annotated", "preview"):
                loc = page.locator(f"img[src='/image/{held_id}/{img}.jpg']")
                loc.wait_for()
                assert loc.evaluate("i => i.complete && i.naturalWidth > 0")
            assert "Ada Example" in page.content()
            page.screenshot(path=str(tmp_path / "image-page.png"), full_page=True)
            page.fill("input[name=out]", str(ready))
            _submit(page, "button[name=mode][value=redacted]", base + "/", tmp_path)
            assert "Released" in page.locator("p.flash").inner_text()
            page.goto(f"{base}/audit?pupil=P001")
            assert "held.release" in page.content()
            # sign out: the session is gone
            _submit(page, "header button[type=submit]", base + "/login", tmp_path)
            assert page.goto(f"{base}/image/{held_id}/thumb.jpg").status == 401
        finally:
            browser.close()
    [out] = list(ready.iterdir())
    assert out.suffix == ".jpg" and "ada" not in out.name.lower()
    from PIL import Image

    with Image.open(out) as im:
        assert not im.getexif() and "exif" not in im.info
    rgb = load_image(out).rgb
    [ada] = [f for f in rec["faces"] if f["pupil"] == "P001"]
    left = region_encoding(rgb, ada["box"])
    assert left is None or min_distance(left, reference_encodings["ada"]) > 0.6
    entries = open_store(Home(root)).audit.entries(pupil="P001")
    [entry] = [e for e in entries if e["action"] == "held.release"]
    assert entry["actor"] == DSL and entry["details"]["held_id"] == held_id
    assert not (root / "held" / held_id / "original").exists()
    keep = os.environ.get("SAFEGUARD_SCREENSHOT")
    if keep:
        shutil.copy(tmp_path / "image-page.png", keep)
