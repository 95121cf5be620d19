"""The review app gives nothing away: no page or image without a DSL session, no POST without
the session's CSRF token or from another site, no id that is not exactly a held id, and repeated
wrong passwords lock the account."""

from __future__ import annotations

import pytest
from support.helpers import open_store
from support.review_support import (
    ADMIN,
    DSL,
    PASSWORD,
    client,
    copy_home,
    csrf_of,
    raw_request,
    review_template,
    sign_in,
)

pytestmark = pytest.mark.model


@pytest.fixture
def home_ids(tmp_path, tmp_path_factory, reference_encodings):
    root, ids = review_template(tmp_path_factory, reference_encodings)
    return copy_home(root, tmp_path / "home"), ids


def urls(held_id: str) -> tuple[list[str], list[str], list[str]]:
    pages = ["/", f"/held/{held_id}", "/audit", "/audit?pupil=P001", "/nonexistent"]
    images = [f"/image/{held_id}/{k}.jpg" for k in ("annotated", "preview", "thumb")]
    posts = [f"/held/{held_id}/release", f"/held/{held_id}/reject"]
    return pages, images, posts


def test_every_page_and_image_needs_a_session(home_ids):
    home, ids = home_ids
    c = client(home)
    pages, images, posts = urls(ids["assembly.jpg"])
    for url in pages:
        r = c.get(url)
        assert r.status_code in (303, 401), url
        if r.status_code == 303:
            assert r.headers["location"] == "/login", url
        assert "Ada" not in r.text and "P001" not in r.text
    for url in images:
        r = c.get(url)
        assert r.status_code == 401, url
        assert r.headers["content-type"].startswith("text/plain")
    for url in posts:
        r = c.post(url, data={"mode": "redacted", "folder": "0", "reason": "x"})
        assert r.status_code == 401, url
    # nothing was decided
    assert (home.held_dir / ids["assembly.jpg"] / "original").exists()


def test_security_headers_on_every_response(home_ids):
    home, ids = home_ids
    c = client(home)
    for r in (c.get("/login"), c.get("/"), c.get("/image/x/annotated.jpg")):
        assert r.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
    assert sign_in(c).status_code == 303
    r = c.get(f"/image/{ids['assembly.jpg']}/annotated.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    assert r.content[:2] == b"\xff\xd8"


def test_session_cookie_is_httponly_strict_and_renewed_at_sign_in(home_ids):
    home, _ = home_ids
    c = client(home)
    c.get("/login")
    before = c.cookies.get("safeguard_review")
    r = sign_in(c)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert c.cookies.get("safeguard_review") != before  # no session fixation
    assert c.get("/").status_code == 200


def test_post_without_valid_csrf_token_is_refused(home_ids, tmp_path):
    home, ids = home_ids
    held_id = ids["assembly.jpg"]
    ready = tmp_path / "ready"
    ready.mkdir()
    c = client(home)
    # the login form itself needs the token
    c.get("/login")
    r = c.post("/login", data={"user": DSL, "password": PASSWORD})
    assert r.status_code == 403
    assert sign_in(c).status_code == 303
    for data in ({}, {"csrf": "forged"}, {"csrf": ""}):
        form = {"mode": "redacted", "folder": "0", "reason": "because", **data}
        assert c.post(f"/held/{held_id}/release", data=form).status_code == 403
        assert c.post(f"/held/{held_id}/reject", data=form).status_code == 403
        assert c.post("/logout", data=data).status_code == 403
    assert (home.held_dir / held_id / "original").exists()
    assert list(ready.iterdir()) == []
    # a token from another session does not work either
    other = client(home)
    sign_in(other)
    token = csrf_of(other.get(f"/held/{held_id}").text)
    mine = csrf_of(c.get(f"/held/{held_id}").text)
    assert token != mine
    r = c.post(f"/held/{held_id}/reject", data={"csrf": token, "reason": "x x x"})
    assert r.status_code == 403


def test_cross_site_post_is_refused_even_with_a_token(home_ids):
    home, ids = home_ids
    held_id = ids["assembly.jpg"]
    c = client(home)
    sign_in(c)
    token = csrf_of(c.get(f"/held/{held_id}").text)
    form = {"csrf": token, "reason": "not wanted"}
    r = c.post(f"/held/{held_id}/reject", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    r = c.post(f"/held/{held_id}/reject", data=form, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert (home.held_dir / held_id / "original").exists()
    r = c.post(
        f"/held/{held_id}/reject",
        data=form,
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    )
    assert r.status_code == 303
    assert not (home.held_dir / held_id / "original").exists()


def test_unknown_host_header_is_refused(home_ids):
    home, _ = home_ids
    c = client(home)
    assert c.get("/login", headers={"Host": "rebind.example"}).status_code == 400


TRAVERSALS = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "20250101-0123456789ab/../../consent_db",
    "20250101-0123456789AB",
    "20250101-0123456789ab%00",
    ".staging-x",
    "record.json",
]


def test_ids_that_are_not_held_ids_are_refused(home_ids):
    home, ids = home_ids
    c = client(home)
    sign_in(c)
    token = csrf_of(c.get("/").text)
    cookie = c.cookies.get("safeguard_review")
    for bad in TRAVERSALS:
        for url in (f"/held/{bad}", f"/image/{bad}/annotated.jpg", f"/image/{bad}/preview.jpg"):
            status, headers, body = raw_request(c.app, "GET", url, cookie)
            assert status in (400, 404), (url, status)
            assert headers["content-type"].startswith("text/plain"), url
            assert b"root:" not in body
        status, _, _ = raw_request(
            c.app, "POST", f"/held/{bad}/reject", cookie, f"csrf={token}&reason=trying".encode()
        )
        assert status in (400, 404, 405), (bad, status)
    # the same session reaches a real id (so the refusals above were about the ids)
    assert raw_request(c.app, "GET", f"/held/{ids['assembly.jpg']}", cookie)[0] == 200
    # an image kind outside the fixed set is refused too
    assert c.get(f"/image/{ids['assembly.jpg']}/original.jpg").status_code == 404
    status, _, _ = raw_request(
        c.app, "GET", f"/image/{ids['assembly.jpg']}/..%2Frecord.jpg", cookie
    )
    assert status == 404
    assert all((home.held_dir / i / "original").exists() for i in ids.values())


def test_a_client_guessing_passwords_is_throttled_and_cannot_lock_the_dsl_out(home_ids):
    # six wrong passwords from anyone who could reach the login page locked the DSL
    # out. Each client is now slowed down (growing waits after three failures, answered without a
    # password check), and the DSL signing in from their own computer is not locked out.
    from starlette.testclient import TestClient

    from safeguard.config import Config
    from safeguard.review.app import create_app
    from safeguard.review.auth import Throttle

    home, _ = home_ids
    app = create_app(home, Config(), allowed_hosts=["testserver"])
    guesser = TestClient(app, follow_redirects=False, client=("203.0.113.7", 40000))
    codes = [sign_in(guesser, password="wrong password!").status_code for _ in range(8)]
    assert codes[:Throttle.FREE] == [401] * Throttle.FREE
    assert set(codes[Throttle.FREE:]) == {429}, codes
    assert "try again in" in sign_in(guesser, password="wrong password!").text
    dsl = TestClient(app, follow_redirects=False, client=("192.0.2.10", 40001))
    r = sign_in(dsl)
    assert r.status_code == 303, r.text
    assert dsl.get("/").status_code == 200
    actions = [e["action"] for e in open_store(home).audit.entries(pupil=DSL)]
    assert "staff.locked" not in actions
    assert actions.count("staff.login_failed") == Throttle.FREE  # throttled tries never checked


def test_the_throttle_waits_twice_as_long_after_each_failure():
    from safeguard.review.auth import Throttle

    now = [1000.0]
    t = Throttle(clock=lambda: now[0])
    for _ in range(Throttle.FREE):
        assert t.wait("a") == 0
        t.failed("a")
    waits = []
    for _ in range(4):
        waits.append(t.wait("a"))
        now[0] += waits[-1]
        t.failed("a")
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert t.wait("b") == 0  # another client is not slowed
    t.succeeded("a")
    assert t.wait("a") == 0


def test_admin_role_cannot_review(home_ids):
    home, _ = home_ids
    c = client(home)
    r = sign_in(c, user=ADMIN)
    assert r.status_code == 401
    assert "only the dsl role" in r.text
    assert c.get("/").status_code == 303


def test_logout_ends_the_session(home_ids):
    home, ids = home_ids
    c = client(home)
    sign_in(c)
    token = csrf_of(c.get("/").text)
    assert c.post("/logout", data={"csrf": token}).status_code == 303
    assert c.get("/").status_code == 303
    assert c.get(f"/image/{ids['assembly.jpg']}/thumb.jpg").status_code == 401


def test_the_page_releases_only_to_configured_folders(tmp_path, tmp_path_factory,
                                                      reference_encodings):
    """A DSL (or whoever holds their session) cannot make the server write a
    released photo to a path typed into the form; only release_folders and `serve --ready`."""
    from support.review_support import client, copy_home, csrf_of, review_template, sign_in

    from safeguard.config import Config

    template, ids = review_template(tmp_path_factory, reference_encodings)
    home = copy_home(template, tmp_path / "home")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    held_id = ids["assembly.jpg"]
    with client(home, config=Config()) as c:  # nothing configured: no release at all
        sign_in(c)
        page = c.get(f"/held/{held_id}")
        assert 'name="out"' not in page.text and 'name="folder"' not in page.text
        assert "No release folder is set up" in page.text
        r = c.post(f"/held/{held_id}/release",
                   data={"csrf": csrf_of(page.text), "mode": "redacted", "folder": "0",
                         "out": str(elsewhere)})
        assert r.status_code == 303 and "no%20release%20folder%20is%20configured" in \
            r.headers["location"]
    with client(home) as c:  # HOME/../ready configured: elsewhere is refused, ready is fine
        sign_in(c)
        page = c.get(f"/held/{held_id}")
        # a path typed into a forged form is not even read: only the list's number is
        assert '<option value="0" selected>ready</option>' in page.text
        r = c.post(f"/held/{held_id}/release",
                   data={"csrf": csrf_of(page.text), "mode": "redacted", "out": str(elsewhere)})
        assert "choose%20a%20release%20folder" in r.headers["location"]
        for number in ("1", "-1", str(elsewhere)):
            r = c.post(f"/held/{held_id}/release",
                       data={"csrf": csrf_of(page.text), "mode": "redacted", "folder": number})
            assert "choose%20a%20release%20folder" in r.headers["location"]
        assert not any(elsewhere.iterdir())
        ready = tmp_path / "ready"
        ready.mkdir()
        r = c.post(f"/held/{held_id}/release",
                   data={"csrf": csrf_of(page.text), "mode": "redacted", "folder": "0"})
        assert r.headers["location"] == "/" and len(list(ready.iterdir())) == 1
