"""A browser fetches things on its own while the sign-in form is on screen: /favicon.ico, sent
with no cookie when the first page it loaded had none yet. Redirected to the sign-in page, that
request started a second session whose cookie replaced the one behind the form, and the DSL's
sign-in failed as a forged form (seen in CI, in Chromium). Such requests get no session and no
redirect; page loads still go to the sign-in page."""

from __future__ import annotations

import pytest
from support.review_support import DSL, PASSWORD, client, copy_home, csrf_of, review_template

from safeguard.review.app import COOKIE

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.browser]

IMAGE = {"sec-fetch-dest": "image", "sec-fetch-mode": "no-cors", "sec-fetch-site": "same-origin"}
PAGE = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate"}


@pytest.fixture
def home(tmp_path, tmp_path_factory, reference_encodings):
    root, _ = review_template(tmp_path_factory, reference_encodings)
    return copy_home(root, tmp_path / "home")


def test_favicon_and_background_fetches_start_no_session(home):
    c = client(home)
    for url in ("/favicon.ico", "/nonexistent.png", "/login"):
        r = c.get(url, headers=IMAGE)
        assert r.status_code in (204, 404), url
        assert "set-cookie" not in r.headers, url
        assert "location" not in r.headers, url
    # a page load is still sent to sign in, and the sign-in page starts a session
    r = c.get("/nonexistent", headers=PAGE)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = c.get("/login", headers=PAGE)
    assert r.status_code == 200 and COOKIE in r.headers["set-cookie"]


def test_sign_in_succeeds_when_the_favicon_arrives_cookieless_mid_form(home):
    from starlette.testclient import TestClient

    browser = client(home)
    form = browser.get("/login", headers=PAGE)
    # The favicon request the browser made for its first page, before it had a cookie, answered
    # now. It follows redirects as a browser does, and whatever cookie it is given lands in the
    # browser's one cookie jar.
    favicon = TestClient(browser.app, follow_redirects=True).get("/favicon.ico", headers=IMAGE)
    assert "set-cookie" not in favicon.headers
    for name, value in favicon.cookies.items():
        browser.cookies.set(name, value)
    r = browser.post(
        "/login", data={"csrf": csrf_of(form.text), "user": DSL, "password": PASSWORD}
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
