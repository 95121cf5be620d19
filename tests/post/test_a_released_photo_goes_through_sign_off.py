"""Tried as a school would: sign-off configured for social, a photo dropped in the watched inbox
with a caption that names a child, held for the DSL (the child is on a register). The DSL's
release does not reach ready but waits for sign-off with its caption; an approver cannot approve
the flagged caption without saying so; every decision is a line in the inbox's status file and
counts in `safeguard status`; the declined photo dropped in again with a corrected caption is
processed, not removed as a duplicate; and a DSL who signs off may release and approve at once."""

from __future__ import annotations

import json

import pytest
from conftest import build_demo_home
from support.helpers import TEST_PASSWORD, accept_settings, json_lines, open_store, run_cli_as

pytestmark = pytest.mark.model


@pytest.fixture
def school(tmp_path, reference_encodings, photos):
    home = build_demo_home(tmp_path / "home", reference_encodings, ada_registers=("cp",))
    home.config_file.write_text('[approval]\nsocial = "slt"\n')
    accept_settings(home)
    store = open_store(home)
    store.add_staff("test-slt", "slt", TEST_PASSWORD, actor="test")
    store.update_pupil("P002", groups=["4O"], actor="test")
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    return home, inbox, ready, (photos / "visit.jpg").read_bytes()


def _drop_and_watch(home, inbox, ready, data, caption) -> dict:
    (inbox / "trip.jpg").write_bytes(data)
    (inbox / "trip.txt").write_text(caption)
    r = run_cli_as("test-comms", "--home", home.root, "watch", inbox, "--ready", ready, "--once",
                   "--channel", "social", "--json", "--jobs", "1")
    [line] = json_lines(r.stdout)
    return line


def _status(home) -> dict:
    r = run_cli_as("test-comms", "--home", home.root, "status", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _last_status_line(inbox) -> str:
    return (inbox / "_safeguard-status.txt").read_text().splitlines()[-1]


def test_a_release_waits_for_sign_off_and_each_outcome_flows_back(school):
    home, inbox, ready, data = school
    line = _drop_and_watch(home, inbox, ready, data, "Ben Example in 4O at the museum")
    assert line["status"] == "held"
    held_id = line["held_id"]

    # the DSL sees the caption and what in it identifies a child
    r = run_cli_as("test-dsl", "--home", home.root, "review", "show", held_id, "--json")
    shown = json.loads(r.stdout)
    assert shown["caption"] == "Ben Example in 4O at the museum"
    assert shown["caption_flags"] == ["a pupil's full name", "a class name"]

    # released: not into ready, into a post waiting for sign-off
    r = run_cli_as("test-dsl", "--home", home.root, "review", "release", held_id, "--out",
                   ready, "--json")
    assert r.exit_code == 0, r.output
    done = json.loads(r.stdout)
    post = done["approval"]
    assert post and done["output"] is None and not any(ready.iterdir())
    assert f"released by the DSL: awaiting approval as post {post}" in _last_status_line(inbox)
    counts = _status(home)
    assert (counts["held"], counts["awaiting_approval"], counts["ready_today"]) == (0, 1, 0)

    # the approver is told the caption is flagged, and one command does not approve it
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "list", "--json")
    [listed] = json.loads(r.stdout)
    assert listed["id"] == post and listed["caption_flags"] == ["a pupil's full name",
                                                                 "a class name"]
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "approve", post)
    assert r.exit_code == 1 and "identifies a child" in r.output
    assert not any(ready.iterdir())

    # declined with a reason that names the child: comms are told there was one, not what
    r = run_cli_as("test-slt", "--home", home.root, "approvals", "decline", post, "--reason",
                   "Ben Example is named in the caption")
    assert r.exit_code == 0, r.output
    last = _last_status_line(inbox)
    assert "declined at sign-off" in last and "Ben Example" not in last
    r = run_cli_as("test-comms", "--home", home.root, "approvals", "status", post)
    assert "Ben Example" not in r.output and "declined" in r.output
    counts = _status(home)
    assert counts["awaiting_approval"] == 0 and counts["decided_today"]["declined"] == 1

    # sent again with a corrected caption: processed, not a duplicate
    again = _drop_and_watch(home, inbox, ready, data, "Our trip to the museum")
    assert again["status"] == "held", again

    # a DSL who signs off releases and approves it at once: it lands in ready
    r = run_cli_as("test-dsl", "--home", home.root, "review", "release", again["held_id"],
                   "--out", ready, "--approve", "--json")
    assert r.exit_code == 0, r.output
    done = json.loads(r.stdout)
    assert done["approved"] and done["output"]
    assert [p.name for p in ready.iterdir()] == ["trip.jpg"]
    assert "approved at sign-off: ready as trip.jpg" in _last_status_line(inbox)
    counts = _status(home)
    assert counts["ready_today"] == 1 and counts["awaiting_approval"] == 0
    assert counts["decided_today"]["approved"] == 1
    actions = [e["action"] for e in open_store(home).audit.entries()]
    assert actions.count("approval.approved") == 1 and actions.count("held.release") >= 2

    # the photo now published: dropped in once more, it is a duplicate
    third = _drop_and_watch(home, inbox, ready, data, "Our trip to the museum")
    assert third["status"] == "duplicate"


def test_a_rejected_photo_may_be_sent_again(school):
    home, inbox, ready, data = school
    line = _drop_and_watch(home, inbox, ready, data, "Our trip")
    r = run_cli_as("test-dsl", "--home", home.root, "review", "reject", line["held_id"],
                   "--reason", "Ada must not appear")
    assert r.exit_code == 0, r.output
    last = _last_status_line(inbox)
    assert "rejected by the DSL" in last and "Ada" not in last
    assert _status(home)["decided_today"]["rejected"] == 1
    still = _drop_and_watch(home, inbox, ready, data, "Our trip")
    assert still["status"] == "held"
    # still held: dropped in again, a duplicate
    assert _drop_and_watch(home, inbox, ready, data, "Our trip")["status"] == "duplicate"


def test_release_and_approve_with_a_flagged_caption_needs_it_confirmed(school):
    home, inbox, ready, data = school
    line = _drop_and_watch(home, inbox, ready, data, "Ben Example at the museum")
    r = run_cli_as("test-dsl", "--home", home.root, "review", "release", line["held_id"],
                   "--out", ready, "--approve")
    assert r.exit_code == 1 and "identifies a child" in r.output
    assert not any(ready.iterdir())
    r = run_cli_as("test-dsl", "--home", home.root, "review", "release", line["held_id"],
                   "--out", ready, "--approve", "--caption-ok")
    assert r.exit_code == 0, r.output
    assert [p.name for p in ready.iterdir()] == ["trip.jpg"]
    [e] = [e for e in open_store(home).audit.entries() if e["action"] == "approval.approved"]
    assert e["details"]["caption_confirmed"] is True and e["actor"] == "test-dsl"


def test_a_photo_held_from_blur_keeps_its_caption_and_a_release_posts_it(school, photos,
                                                                          tmp_path):
    from safeguard import approvals

    home, _, ready, _ = school
    (tmp_path / "caption.txt").write_text("Ben Example at the museum")
    r = run_cli_as("test-comms", "--home", home.root, "blur", photos / "visit.jpg", "--out",
                   tmp_path / "out", "--channel", "social", "--json", "--jobs", "1",
                   "--caption", tmp_path / "caption.txt")
    [line] = json_lines(r.stdout)
    assert line["status"] == "held", line
    r = run_cli_as("test-dsl", "--home", home.root, "review", "show", line["held_id"], "--json")
    assert json.loads(r.stdout)["caption"] == "Ben Example at the museum"
    r = run_cli_as("test-dsl", "--home", home.root, "review", "release", line["held_id"],
                   "--out", ready, "--json")
    post = json.loads(r.stdout)["approval"]
    assert approvals.get(home, post)["caption"] == "Ben Example at the museum"
    assert approvals.get(home, post)["origin"]["held_id"] == line["held_id"]
