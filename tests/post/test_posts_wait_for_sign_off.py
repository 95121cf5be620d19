"""With approval = {social = "slt"}, a blur pass for social does not write into
--out: the post waits under the home, sealed, until a DSL or a senior leader (role slt) approves
it (the copies land in --out) or declines it with a reason (they are destroyed). Comms staff see
"awaiting approval", then the outcome; everything is in the audit log."""

from __future__ import annotations

import json

import pytest
from support.helpers import TEST_PASSWORD, accept_settings, json_lines, open_store, run_cli_as

pytestmark = pytest.mark.model


def _home(demo_home):
    demo_home.config_file.write_text('[approval]\nsocial = "slt"\n')
    accept_settings(demo_home)
    open_store(demo_home).add_staff("test-slt", "slt", TEST_PASSWORD, actor="test")
    return demo_home


def _blur(home, photos, out):
    r = run_cli_as("test-comms", "--home", home.root, "blur", photos / "visit.jpg",
                   photos / "phone-rotated-gps.jpg", "--out", out, "--channel", "social",
                   "--json", "--jobs", "1")
    assert r.exit_code == 0, r.output
    lines = json_lines(r.stdout)
    # "awaiting_approval"; "exported" (with "approval" set) before it, accepted for one release
    assert all(x["status"] in ("awaiting_approval", "exported") and x["output"] is None
               for x in lines)
    assert all(x["message"] == "awaiting approval" for x in lines)
    [post] = {x["approval"] for x in lines}
    return post


def test_a_post_waits_for_sign_off_then_lands(demo_home, photos, tmp_path):
    from safeguard import approvals, sealed

    home = _home(demo_home)
    out = tmp_path / "out"
    post = _blur(home, photos, out)
    assert not out.exists() or not any(out.iterdir())  # nothing published yet
    # sealed under the home
    for f in (approvals.folder(home) / post / "files").iterdir():
        assert sealed.is_sealed(f)
    r = run_cli_as("test-comms", "--home", home.root, "approvals", "status", post, "--json")
    assert json.loads(r.stdout)["state"] == "awaiting approval"
    # comms staff cannot approve or list; a senior leader can
    r = run_cli_as("test-comms", "--home", home.root, "approvals", "approve", post)
    assert r.exit_code == 1 and "may not" in r.output
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "list", "--json")
    assert [p["id"] for p in json.loads(r.stdout)] == [post]
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "approve", post)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["phone-rotated-gps.jpg", "visit.jpg"]
    r = run_cli_as("test-comms", "--home", home.root, "approvals", "status", post)
    assert "approved" in r.output
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "approve", post)
    assert r.exit_code == 1 and "already decided" in r.output
    actions = [e["action"] for e in open_store(home).audit.entries()]
    assert "approval.submitted" in actions and "approval.approved" in actions


def test_a_declined_post_is_destroyed_and_the_reason_shown(demo_home, photos, tmp_path):
    from safeguard import approvals

    home = _home(demo_home)
    out = tmp_path / "out"
    post = _blur(home, photos, out)
    r = run_cli_as("test-dsl", "--home", home.root, "approvals", "decline", post)
    assert r.exit_code == 2  # a reason is required
    r = run_cli_as("test-dsl", "--home", home.root, "approvals", "decline", post, "--reason",
                   "wrong event")
    assert r.exit_code == 0, r.output
    assert not any((approvals.folder(home) / post / "files").iterdir())
    assert not out.exists() or not any(out.iterdir())
    r = run_cli_as("test-comms", "--home", home.root, "approvals", "status", post)
    assert "declined (wrong event)" in r.output


def test_channels_without_sign_off_publish_at_once(demo_home, photos, tmp_path):
    home = _home(demo_home)
    r = run_cli_as("test-comms", "--home", home.root, "blur", photos / "visit.jpg", "--out",
                   tmp_path / "out", "--channel", "website", "--json", "--jobs", "1")
    [line] = json_lines(r.stdout)
    assert line["output"] and line["approval"] is None


def test_the_watched_folder_holds_each_photo_for_sign_off_then_it_lands_in_ready(
        demo_home, photos, tmp_path):
    """Each photo dropped in for a channel that needs sign-off waits as a post of its own (with
    the caption beside it); nothing reaches ready until it is approved; dropping the same photo
    again does not make a second post."""
    from safeguard import approvals

    home = _home(demo_home)
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    (inbox / "visit.jpg").write_bytes((photos / "visit.jpg").read_bytes())
    (inbox / "visit.txt").write_text("Our visit to the museum")
    r = run_cli_as("test-comms", "--home", home.root, "watch", inbox, "--ready", ready,
                   "--once", "--channel", "social", "--json", "--jobs", "1")
    assert r.exit_code == 0, r.output
    [line] = json_lines(r.stdout)
    post = line["approval"]
    # "awaiting_approval", as blur --json says; "exported" before it, accepted for one release
    assert line["status"] in ("awaiting_approval", "exported") and line["output"] is None and post
    assert "awaiting approval" in line["message"]
    assert not ready.exists() or not any(ready.iterdir())
    status = (inbox / "_safeguard-status.txt").read_text()
    assert "awaiting approval" in status and post in status
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "list", "--json")
    [listed] = json.loads(r.stdout)
    assert listed["id"] == post and listed["caption"] == "Our visit to the museum"
    assert listed["out_dir"] == str(ready.resolve())

    (inbox / "again.jpg").write_bytes((photos / "visit.jpg").read_bytes())
    r = run_cli_as("test-comms", "--home", home.root, "watch", inbox, "--ready", ready,
                   "--once", "--channel", "social", "--json", "--jobs", "1")
    [again] = json_lines(r.stdout)
    assert again["status"] == "duplicate" and again["approval"] is None
    assert [p["id"] for p in approvals.pending(home, scope=None)] == [post]

    r = run_cli_as("test-slt", "--home", home.root, "approvals", "approve", post)
    assert r.exit_code == 0, r.output
    assert [p.name for p in ready.iterdir()] == ["visit.jpg"]
    r = run_cli_as("test-comms", "--home", home.root, "status", "--json")
    assert json.loads(r.stdout)["awaiting_approval"] == 0


def test_a_post_made_again_after_a_crash_is_the_same_post(demo_home, photos, tmp_path):
    """The watcher commits a post under an id fixed by its claim: repeating the commit (a crash
    between submitting and letting go of the photo) finds the post made the first time, and a
    post half made before a crash is made afresh."""
    from safeguard import approvals

    home = _home(demo_home)
    audit = open_store(home).audit
    data = (photos / "visit.jpg").read_bytes()
    pid = approvals.post_id_for("20261202T000000000000-abcdef")
    assert pid == approvals.post_id_for("20261202T000000000000-abcdef")
    half = approvals.start(home, "social", tmp_path / "ready", None, "test-comms", pid)
    approvals.add(home, half, "visit.jpg", b"half")  # the crash came before submit
    first = approvals.submit_photo(home, pid, "social", tmp_path / "ready", "cap",
                                   "test-comms", "visit.jpg", data, audit)
    again = approvals.submit_photo(home, pid, "social", tmp_path / "ready", "cap",
                                   "test-comms", "visit.jpg", b"other", audit)
    assert first["id"] == again["id"] == pid and again["state"] == approvals.AWAITING
    assert [d for _, d in approvals.copies(home, approvals.get(home, pid))] == [data]
    submitted = [e for e in open_store(home).audit.entries()
                 if e["action"] == "approval.submitted"]
    assert len(submitted) == 1


def test_through_the_service_an_approved_post_lands_only_in_a_release_folder(
        demo_home, photos, tmp_path):
    """The service account writes an approved post's copies, so a comms member may not have it
    write just anywhere: a post sent through the service must be for a configured release folder,
    and no post is ever written into the home."""
    import threading

    from support.helpers import run_cli_env

    from safeguard import approvals
    from safeguard.config import Config
    from safeguard.service import PhotoService, serve

    home = _home(demo_home)
    shared = tmp_path / "to-post"
    shared.mkdir()
    home.config_file.write_text(f'release_folders = ["{shared}"]\n[approval]\nsocial = "slt"\n')
    accept_settings(home)
    cfg = Config(approval={"social": "slt"}, release_folders=(str(shared),))
    sock = tmp_path / "photos.sock"
    server = serve(PhotoService(home, cfg, jobs=1), sock)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    comms = {"SAFEGUARD_USER": "test-comms", "SAFEGUARD_PASSWORD": TEST_PASSWORD,
             "SAFEGUARD_HOME": "/nonexistent/safeguard-home"}
    try:
        for out in (tmp_path / "mine", home.root / "held"):
            r = run_cli_env(comms, "blur", str(photos / "visit.jpg"), "--out", str(out),
                            "--service", str(sock), "--channel", "social")
            assert r.exit_code == 2 and "release folder" in r.output, r.output
        assert approvals.pending(home, scope=None) == []
        r = run_cli_env(comms, "blur", str(photos / "visit.jpg"), "--out", str(shared),
                        "--service", str(sock), "--channel", "social", "--json")
        [line] = json_lines(r.stdout)
        assert line["approval"] and not any(shared.iterdir())
    finally:
        server.shutdown()
        server.server_close()
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "approve", line["approval"])
    assert r.exit_code == 0, r.output
    assert [p.name for p in shared.iterdir()] == ["visit.jpg"]
    # a post for a folder inside the home (made any other way) is never written there
    audit = open_store(home).audit
    post = approvals.start(home, "social", home.root / "held", None, "test-comms")
    approvals.add(home, post, "visit.jpg", (photos / "visit.jpg").read_bytes())
    approvals.submit(home, post, audit)
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "approve", post["id"])
    assert r.exit_code == 1 and "inside the safeguard home" in r.output
    assert not (home.root / "held" / "visit.jpg").exists()


def test_in_a_trust_approvers_see_only_their_academys_posts(demo_home, photos, tmp_path):
    """A post belongs to the academy of the account that made it. A senior leader scoped to
    another academy cannot list, see, approve or decline it: to them it is "no such post", as a
    post that does not exist is. Trust-wide approvers see every post; a post made by a
    trust-wide account is theirs alone."""
    from safeguard import approvals

    home = _home(demo_home)
    store = open_store(home)
    store.add_staff("north-comms", "comms", TEST_PASSWORD, actor="test", academy="North")
    store.add_staff("north-slt", "slt", TEST_PASSWORD, actor="test", academy="North")
    store.add_staff("south-slt", "slt", TEST_PASSWORD, actor="test", academy="South")
    store.add_staff("south-dsl", "dsl", TEST_PASSWORD, actor="test", academy="South")
    out = tmp_path / "out"
    r = run_cli_as("north-comms", "--home", home.root, "blur", photos / "visit.jpg", "--out",
                   out, "--channel", "social", "--json", "--jobs", "1")
    [north_post] = {x["approval"] for x in json_lines(r.stdout)}
    assert approvals.get(home, north_post)["academy"] == "North"
    trust_post = _blur(home, photos, tmp_path / "trust-out")  # test-comms: trust-wide

    def listed(user):
        r = run_cli_as(user, "--home", home.root, "approvals", "list", "--json")
        assert r.exit_code == 0, r.output
        return sorted(p["id"] for p in json.loads(r.stdout))

    assert listed("south-slt") == [] and listed("south-dsl") == []
    assert listed("north-slt") == [north_post]
    assert listed("test-slt") == sorted([north_post, trust_post])  # trust-wide
    for user in ("south-slt", "south-dsl"):
        for args in (["show", north_post], ["approve", north_post],
                     ["decline", north_post, "--reason", "not ours"]):
            r = run_cli_as(user, "--home", home.root, "approvals", *args)
            assert r.exit_code == 1 and "no such post" in r.output, (user, args, r.output)
    r = run_cli_as("north-slt", "--home", home.root, "approvals", "approve", trust_post)
    assert r.exit_code == 1 and "no such post" in r.output
    assert approvals.get(home, north_post)["state"] == approvals.AWAITING
    assert not out.exists() or not any(out.iterdir())
    r = run_cli_as("north-slt", "--home", home.root, "approvals", "approve", north_post)
    assert r.exit_code == 0, r.output
    assert [p.name for p in out.iterdir()] == ["visit.jpg"]


def test_a_posts_state_is_for_its_academy(demo_home, photos, tmp_path):
    """`approvals status` answers the account that made the post and the staff of its academy
    (trust-wide accounts see all); to staff of another academy there is no such post."""
    home = _home(demo_home)
    store = open_store(home)
    store.add_staff("other-comms", "comms", TEST_PASSWORD, actor="test")
    store.add_staff("south-comms", "comms", TEST_PASSWORD, actor="test", academy="South")
    store.add_staff("south-slt", "slt", TEST_PASSWORD, actor="test", academy="South")
    post = _blur(home, photos, tmp_path / "out")  # made by test-comms, trust-wide
    for user in ("test-comms", "other-comms", "test-slt", "test-dsl"):
        r = run_cli_as(user, "--home", home.root, "approvals", "status", post, "--json")
        assert r.exit_code == 0 and json.loads(r.stdout)["state"] == "awaiting approval", user
    for user in ("south-comms", "south-slt"):
        r = run_cli_as(user, "--home", home.root, "approvals", "status", post)
        assert r.exit_code == 1 and "no such post" in r.output, (user, r.output)


def test_a_watched_folder_run_by_an_academys_account_posts_for_that_academy(
        demo_home, photos, tmp_path):
    """The watcher's posts belong to the academy of the account running it: that academy's
    senior leader approves them, another academy's never sees them."""
    from safeguard import approvals

    home = _home(demo_home)
    store = open_store(home)
    store.add_staff("north-comms", "comms", TEST_PASSWORD, actor="test", academy="North")
    store.add_staff("north-slt", "slt", TEST_PASSWORD, actor="test", academy="North")
    store.add_staff("south-slt", "slt", TEST_PASSWORD, actor="test", academy="South")
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    (inbox / "visit.jpg").write_bytes((photos / "visit.jpg").read_bytes())
    r = run_cli_as("north-comms", "--home", home.root, "watch", inbox, "--ready", ready,
                   "--once", "--channel", "social", "--json", "--jobs", "1")
    assert r.exit_code == 0, r.output
    [line] = json_lines(r.stdout)
    post = line["approval"]
    assert approvals.get(home, post)["academy"] == "North"
    r = run_cli_as("south-slt", "--home", home.root, "approvals", "list", "--json")
    assert json.loads(r.stdout) == []
    r = run_cli_as("south-slt", "--home", home.root, "approvals", "approve", post)
    assert r.exit_code == 1 and "no such post" in r.output
    assert not ready.exists() or not any(ready.iterdir())
    r = run_cli_as("north-slt", "--home", home.root, "approvals", "approve", post)
    assert r.exit_code == 0, r.output
    assert [p.name for p in ready.iterdir()] == ["visit.jpg"]
