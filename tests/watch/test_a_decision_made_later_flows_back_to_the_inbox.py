"""What the DSL or an approver decides about a photo after the watcher let go of it is written
back where comms staff look: a line in the inbox's status file and one in the watcher's ledger
(safeguard.watch.feedback). The ledger's duplicate check follows: a photo rejected or declined
may be sent again, one released, approved or still waiting stays a duplicate, and a running
watcher sees a decision another process wrote. No model runs here: the ledger lines are written
as the watcher writes them."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from safeguard.home import Home
from safeguard.watch import Ledger, Target, status_counts
from safeguard.watch.feedback import WITHHELD_REASON, note, origin, words_for_comms


@pytest.fixture
def watched(tmp_path):
    home = Home(tmp_path / "home").ensure()
    inbox, ready = tmp_path / "inbox", tmp_path / "ready"
    inbox.mkdir()
    ready.mkdir()
    t = Target(home, inbox, ready, "social")
    t.dir.mkdir(parents=True)
    (t.dir / "target.json").write_text(json.dumps({"inbox": str(inbox), "ready": str(ready),
                                                   "channel": "social"}))
    return home, t, inbox


def _finished(t: Target, claim: str, sha: str, status: str, **extra) -> None:
    """A line as the watcher writes it when it finishes a photo."""
    t.ledger.add({"time": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "claim": claim, "sha256": sha, "channel": "social", "ready": str(t.ready),
                  "status": status, "display": f"{claim}.jpg", "output": None, **extra})


def _seen(ledger: Ledger, sha: str) -> dict | None:
    return ledger.seen(sha, "social", str(ledger.path.parent.parent.parent.parent / "ready"))


def test_a_release_is_a_line_in_the_status_file_and_counts_as_ready(watched):
    home, t, inbox = watched
    _finished(t, "c1", "aa", "held")
    assert note(home, "released", "released by the DSL: ready as trip.jpg", claim="c1",
                output="trip.jpg")
    last = (inbox / "_safeguard-status.txt").read_text().splitlines()[-1]
    assert last.endswith("c1.jpg  ->  released by the DSL: ready as trip.jpg")
    counts = status_counts(home)
    assert counts["ready_today"] == 1 and counts["decided_today"]["released"] == 1
    assert _seen(Ledger(t.ledger.path).load(), "aa")["decided"] == "released"  # still a duplicate


def test_a_rejected_or_declined_photo_may_be_sent_again(watched):
    home, t, inbox = watched
    _finished(t, "c1", "aa", "held")
    _finished(t, "c2", "bb", "exported", approval="20260101-000000000000")
    _finished(t, "c3", "cc", "exported", approval="20260101-111111111111")
    running = Ledger(t.ledger.path).load()  # a watcher that read its ledger at start
    assert _seen(running, "aa") and _seen(running, "bb") and _seen(running, "cc")
    note(home, "rejected", "rejected by the DSL", claim="c1")
    note(home, "declined", "declined at sign-off", post="20260101-000000000000")
    note(home, "approved", "approved at sign-off: ready as c3.jpg",
         post="20260101-111111111111", output="c3.jpg")
    # the running watcher sees what another process appended since it started
    assert _seen(running, "aa") is None and _seen(running, "bb") is None
    assert _seen(running, "cc")["decided"] == "approved"
    text = (inbox / "_safeguard-status.txt").read_text()
    assert "c1.jpg  ->  rejected by the DSL" in text and "c2.jpg  ->  declined" in text
    # sent again and held again: a duplicate once more, and a late line of the old claim
    # changes nothing
    _finished(t, "c4", "aa", "held")
    assert _seen(running, "aa")["claim"] == "c4"
    assert status_counts(home)["decided_today"] == {
        "released": 0, "released for sign-off": 0, "rejected": 1, "approved": 1, "declined": 1}


def test_a_photo_that_did_not_come_through_an_inbox_writes_nothing(watched):
    home, _, inbox = watched
    assert origin(home, claim="nobody") is None
    assert not note(home, "rejected", "rejected by the DSL", claim="nobody")
    assert not (inbox / "_safeguard-status.txt").exists()


def test_a_decline_reason_reaches_comms_only_when_it_names_nobody():
    def check(text):  # the caption check: here it knows one pupil
        return ["a full name"] if "Ben Example" in text else []

    assert words_for_comms("wrong event", check) == "wrong event"
    assert words_for_comms("Ben Example is in it", check) is None
    assert words_for_comms("she is on the CP register", check) is None
    assert words_for_comms("looked-after child", check) is None
    assert words_for_comms("the other photo was better", check) == "the other photo was better"
    assert words_for_comms("wrong event", None) is None  # nothing to check with: not shown
    assert "approver" in WITHHELD_REASON
