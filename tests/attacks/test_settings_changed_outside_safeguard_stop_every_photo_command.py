"""An insider who can write the home edits config.toml (unknown = "keep", sign-off off), puts an
old copy back, or removes it so that the defaults apply: every command that checks, publishes or
releases photos stops with one line and exit 1 until an admin or the DSL accepts the file with
`safeguard config accept`, which says what changed in words and is audited. The defaults never
stand in for a file that vanished."""

from __future__ import annotations

import threading
from hashlib import sha256

from conftest import SAMPLES
from support.helpers import (
    STAFF,
    TEST_PASSWORD,
    accept_settings,
    json_lines,
    new_home,
    open_store,
    run_cli_as,
    run_cli_env,
)

from consent_db import ConsentStore
from safeguard.accepted_settings import NEVER_ACCEPTED, SETTINGS_CHANGED
from safeguard.home import Home

PHOTO = SAMPLES / "photos" / "visit.jpg"


def _photo_commands(home, tmp_path):
    """(who, argv) of every command that checks, publishes or releases photos."""
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    h = ["--home", home.root]
    return [
        ("test-comms", [*h, "scan", PHOTO, "--jobs", "1"]),
        ("test-comms", [*h, "blur", PHOTO, "--out", tmp_path / "out", "--jobs", "1"]),
        ("test-comms", [*h, "watch", inbox, "--ready", tmp_path / "ready", "--once"]),
        ("test-dsl", [*h, "report", PHOTO, "--html", tmp_path / "sheet.html", "--jobs", "1"]),
        ("test-dsl", [*h, "review", "release", "20260101-000000-abcdef", "--out",
                      tmp_path / "released"]),
        ("test-dsl", [*h, "approvals", "approve", "20260101-000000-abcdef"]),
        ("test-admin", [*h, "serve", "--socket", tmp_path / "photos.sock"]),
    ]


def _all_refused(home, tmp_path, message):
    for who, argv in _photo_commands(home, tmp_path):
        r = run_cli_as(who, *argv)
        assert r.exit_code == 1, (argv[2], r.output)
        assert message in r.output, (argv[2], r.output)
    assert not (tmp_path / "out").exists() and not (tmp_path / "ready").exists()
    assert not (tmp_path / "sheet.html").exists()


def _edit(home, text):
    with open(home.config_file, "a", encoding="utf-8") as f:
        f.write(text)


def test_a_hand_edit_stops_every_photo_command(tmp_path):
    home = new_home(tmp_path / "home")
    _edit(home, 'unknown = "keep"\n')
    _all_refused(home, tmp_path, SETTINGS_CHANGED)


def test_a_removed_settings_file_is_not_the_defaults(tmp_path):
    home = new_home(tmp_path / "home")
    home.config_file.unlink(missing_ok=True)
    _all_refused(home, tmp_path, SETTINGS_CHANGED)


def test_an_unreadable_settings_file_stops_them(tmp_path):
    home = new_home(tmp_path / "home")
    home.config_file.unlink(missing_ok=True)
    home.config_file.mkdir()  # unreadable as a file, whoever runs the test (root reads 0000)
    r = run_cli_as("test-comms", "--home", home.root, "blur", PHOTO, "--out", tmp_path / "out",
                   "--jobs", "1")
    assert r.exit_code == 1 and SETTINGS_CHANGED in r.output
    assert not (tmp_path / "out").exists()


def test_an_old_copy_put_back_stops_them(tmp_path):
    home = new_home(tmp_path / "home")
    old = home.config_file.read_bytes()
    _edit(home, 'unknown = "hold"\n')
    accept_settings(home)
    home.config_file.write_bytes(old)  # the laxer settings of before
    r = run_cli_as("test-comms", "--home", home.root, "scan", PHOTO, "--jobs", "1")
    assert r.exit_code == 1 and SETTINGS_CHANGED in r.output


def test_the_service_refuses_a_batch_once_the_file_changed(tmp_path):
    from safeguard.config import Config
    from safeguard.service import PhotoService, serve

    home = new_home(tmp_path / "home")
    server = serve(PhotoService(home, Config(), jobs=1), tmp_path / "photos.sock")
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        _edit(home, '[approval]\nsocial = "none"\n')
        comms = {"SAFEGUARD_USER": "test-comms", "SAFEGUARD_PASSWORD": TEST_PASSWORD,
                 "SAFEGUARD_HOME": "/nonexistent/safeguard-home"}
        r = run_cli_env(comms, "blur", PHOTO, "--out", tmp_path / "out", "--service",
                        tmp_path / "photos.sock")
        assert r.exit_code == 1 and SETTINGS_CHANGED in r.output, r.output
        assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True
    finally:
        server.shutdown()
        server.server_close()


def test_a_home_made_before_settings_were_recorded_must_be_accepted(tmp_path):
    home = Home(tmp_path / "home").ensure()
    store = ConsentStore.open(home, create=True)  # a store as earlier versions left it
    for user, role in STAFF.items():
        store.add_staff(user, role, TEST_PASSWORD, actor="test-setup")
    r = run_cli_as("test-comms", "--home", home.root, "blur", PHOTO, "--out", tmp_path / "out",
                   "--jobs", "1")
    assert r.exit_code == 1 and NEVER_ACCEPTED in r.output
    r = run_cli_as("test-admin", "--home", home.root, "config", "accept", "--yes")
    assert r.exit_code == 1 and "is missing" in r.output  # no file: nothing to accept
    home.config_file.write_text('unknown = "hold"\n')
    r = run_cli_as("test-admin", "--home", home.root, "config", "accept", "--yes")
    assert r.exit_code == 0, r.output
    assert "Against the defaults" in r.output and 'unknown: "redact" -> "hold" (stricter)' \
        in r.output


def test_accepting_says_what_changed_and_is_the_admins_or_dsls_alone(tmp_path):
    home = new_home(tmp_path / "home")
    _edit(home, 'unknown = "keep"\ntext = "hold"\n')
    for who in ("test-comms", "test-data"):
        r = run_cli_as(who, "--home", home.root, "config", "accept", "--yes")
        assert r.exit_code == 1 and "needs admin or dsl" in r.output, r.output
    open_store(home).add_staff("academy-admin", "admin", TEST_PASSWORD, actor="test",
                               academy="north")
    r = run_cli_as("academy-admin", "--home", home.root, "config", "accept", "--yes")
    assert r.exit_code == 1 and "trust-wide" in r.output
    r = run_cli_as("test-admin", "--home", home.root, "config", "accept")  # no terminal
    assert r.exit_code == 1 and "--yes" in r.output
    r = run_cli_as("test-admin", "--home", home.root, "config", "accept", "--yes")
    assert r.exit_code == 0, r.output
    assert 'unknown: "redact" -> "keep" (LESS STRICT)' in r.output
    assert 'text: "redact" -> "hold" (stricter)' in r.output
    entry = [e for e in open_store(home).audit.entries() if e["action"] == "settings.accept"][-1]
    assert entry["actor"] == "test-admin"
    assert sorted(entry["details"]["changed"]) == ["text", "unknown"]
    r = run_cli_as("test-dsl", "--home", home.root, "config", "accept", "--json")
    assert r.exit_code == 0 and json_lines(r.stdout)[0]["accepted_before"] is True


def test_settings_past_their_safe_bounds_cannot_be_accepted(tmp_path):
    home = new_home(tmp_path / "home")
    _edit(home, "clear_margin = -0.2\n")
    r = run_cli_as("test-admin", "--home", home.root, "config", "accept", "--yes")
    assert r.exit_code == 1 and "clear_margin = -0.2" in r.output and "safe bound" in r.output
    assert open_store(home).settings_digest() != sha256(home.config_file.read_bytes()).hexdigest()


def test_init_starts_with_its_settings_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEGUARD_NEW_PASSWORD", TEST_PASSWORD)
    home = tmp_path / "home"
    r = run_cli_env({}, "--home", home, "init", "--admin", "first-admin")
    assert r.exit_code == 0, r.output
    assert Home(home).config_file.exists()  # every default, written down
    r = run_cli_env({"SAFEGUARD_USER": "first-admin"}, "--home", home, "config", "accept", "--yes")
    assert r.exit_code == 0 and "already accepted" in r.output, r.output


def test_the_review_page_does_not_start_on_changed_settings(tmp_path, monkeypatch):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    home = new_home(tmp_path / "home")
    _edit(home, 'release_folders = ["/tmp"]\n')
    r = run_cli_as("test-dsl", "--home", home.root, "review", "serve")
    assert r.exit_code == 1 and SETTINGS_CHANGED in r.output, r.output
    assert served == []
