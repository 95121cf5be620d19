"""`review serve` listens on loopback unless told otherwise and warns when it is; it refuses to
start without a DSL account; web sessions end after idling."""

from __future__ import annotations

import time

import pytest
from support.helpers import run_cli
from support.review_support import copy_home, review_template

pytestmark = pytest.mark.model


def _serve(monkeypatch, *args):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    return run_cli(*args), calls


def test_serve_defaults_to_loopback_and_warns_otherwise(
    monkeypatch, tmp_path, tmp_path_factory, reference_encodings
):
    home = copy_home(review_template(tmp_path_factory, reference_encodings)[0], tmp_path / "h")
    r, calls = _serve(monkeypatch, "--home", home.root, "review", "serve")
    assert r.exit_code == 0, r.output
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8765
    assert "WARNING" not in r.stderr
    # a wildcard address answers only the host names it is given (DNS rebinding)
    r, calls = _serve(monkeypatch, "--home", home.root, "review", "serve", "--host", "0.0.0.0")
    assert r.exit_code == 2 and "--allow-host" in r.output and not calls
    r, calls = _serve(monkeypatch, "--home", home.root, "review", "serve", "--host", "0.0.0.0",
                      "--allow-host", "safeguard.school.internal")
    assert r.exit_code == 0 and calls[0]["host"] == "0.0.0.0"
    assert "WARNING: serving on 0.0.0.0, not loopback" in r.stderr
    r, _ = _serve(monkeypatch, "--home", home.root, "review", "serve", "--out", home.held_dir)
    assert r.exit_code == 1 and "outside the safeguard home" in r.output


def test_serve_refuses_without_a_dsl_account(monkeypatch, demo_home):
    from support.helpers import open_store

    open_store(demo_home).remove_staff("test-dsl", actor="test-admin")
    r, calls = _serve(monkeypatch, "--home", demo_home.root, "review", "serve")
    assert r.exit_code == 1 and "dsl role" in r.output and not calls


def test_sessions_end_after_idling_and_ids_are_unguessable():
    from safeguard.review.auth import Reviewer, Sessions

    s = Sessions(idle=0.05, lifetime=10)
    a, b = s.new(Reviewer("x", "dsl")), s.new()
    assert a.id != b.id and len(a.id) >= 40 and a.csrf != a.id
    assert s.get(a.id) is a
    time.sleep(0.1)
    assert s.get(a.id) is None
    assert s.get("x" * 1000) is None and s.get(None) is None


def test_a_flood_of_login_page_sessions_does_not_push_out_signed_in_ones(monkeypatch):
    from safeguard.review import auth

    monkeypatch.setattr(auth, "MAX_SESSIONS", 10)
    s = auth.Sessions()
    dsl = s.new(auth.Reviewer("x", "dsl"))
    for _ in range(50):
        s.new()
    assert s.get(dsl.id) is dsl
    assert len(s._by_id) <= 10
