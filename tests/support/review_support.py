"""Shared set-up for the DSL review tests: a home where Ada (P001) is on the CP register, with
held images made by the real pipeline, two staff accounts, and a signed-in web client."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from conftest import SAMPLES, build_demo_home

from support.helpers import open_store, run_cli

PASSWORD = "correct horse battery staple"
DSL, ADMIN = "dsl.lead", "it.admin"
HELD_PHOTOS = ("assembly.jpg", "visit.jpg")


def make_review_home(root: Path, encodings: dict) -> dict[str, str]:
    """Build the home under `root`; returns {photo name: held id}."""
    from safeguard.config import Config
    from safeguard.pipeline import Job, process_file

    home = build_demo_home(root, encodings, ada_registers=("cp",))
    store = open_store(home)
    store.add_staff(DSL, "dsl", PASSWORD, actor="test")
    store.add_staff(ADMIN, "admin", PASSWORD, actor="test")
    cfg = Config()
    job = Job(
        config=cfg,
        channel="social",
        matrix=store.match_matrix("social"),
        held_dir=home.held_dir,
        names=("Ada Example", "Ben Example"),
    )
    ids = {}
    for name in HELD_PHOTOS:
        outcome = process_file(SAMPLES / "photos" / name, job)
        assert outcome.status == "held", outcome
        ids[name] = outcome.held_id
    return ids


_TEMPLATE: list[tuple[Path, dict[str, str]]] = []


def review_template(tmp_path_factory, reference_encodings) -> tuple[Path, dict[str, str]]:
    """One review home per test session, built once; copy it with `copy_home` before use."""
    if not _TEMPLATE:
        root = tmp_path_factory.mktemp("review") / "home"
        _TEMPLATE.append((root, make_review_home(root, reference_encodings)))
    return _TEMPLATE[0]


def copy_home(template: Path, dst: Path):
    from safeguard.home import Home

    shutil.copytree(template, dst)
    return Home(dst)


def client(home, config=None, **kw):
    """The review app for `home`, releasing to HOME/../ready (the configured release folder)."""
    from starlette.testclient import TestClient

    from safeguard.config import Config
    from safeguard.review.app import create_app

    config = config or Config(release_folders=(str(Path(home.root).parent / "ready"),))
    app = create_app(home, config, allowed_hosts=["testserver"], **kw)
    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def sign_in(c, user: str = DSL, password: str = PASSWORD):
    page = c.get("/login")
    assert page.status_code == 200
    return c.post("/login", data={"csrf": csrf_of(page.text), "user": user, "password": password})


def raw_request(
    app, method: str, raw_path: str, cookie: str | None = None, body: bytes = b""
) -> tuple[int, dict, bytes]:
    """Send one request to the ASGI app exactly as written (HTTP clients would normalise
    '..' away; a hostile one need not): path is the percent-decoded raw path, as uvicorn does."""
    from urllib.parse import unquote

    import anyio

    path, _, query = raw_path.partition("?")
    headers = [(b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", f"safeguard_review={cookie}".encode()))
    if body:
        headers += [
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    async def go():
        await app(scope, receive, send)

    anyio.run(go)
    start = next(m for m in sent if m["type"] == "http.response.start")
    hdrs = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return (
        start["status"],
        hdrs,
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    )


def run_cli_env(env: dict, *args):
    """The CLI in-process with `env` set for the call (the CLI reads SAFEGUARD_PASSWORD)."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return run_cli(*args)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
