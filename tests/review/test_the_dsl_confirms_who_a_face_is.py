"""The DSL confirms who a face of a held photo is (safeguard.confirmation), on held records made
here with known encodings (no model runs): the nearest pupils in words, a pupil who may be shown
kept on release, "not ours" left redacted, and the refusals (a face a restricted pupil could
claim, a face too poor to be a reference) with the face left redacted; the page and the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json

import numpy as np
import pytest
from support.helpers import TEST_PASSWORD, TEST_USER, new_home, open_store, run_cli
from support.review_support import client, csrf_of, sign_in
from support.store_fixtures import vec

from safeguard.confirmation import ConfirmError
from safeguard.held import HeldQueue
from safeguard.review.decisions import previewed

TODAY = dt.date.today()


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 140, 160)).save(buf, "JPEG")
    return buf.getvalue()


def near(v: np.ndarray, seed: int, by: float = 0.05) -> list[float]:
    """An encoding about `by` from `v`."""
    step = np.random.default_rng(seed).normal(size=128)
    return [float(x) for x in v + step / np.linalg.norm(step) * by]


@pytest.fixture
def school(tmp_path):
    """Ben (P002) consents on social and is enrolled; Cara (P003) has no consent for social and
    is enrolled; Dan (P004) consents but has no biometric consent (never enrolled). One held
    photo with four faces that were not cleared: near Ben, near Cara, nobody near, and a face
    near Ben that is too small to be a reference."""
    home = new_home(tmp_path / "home")
    store = open_store(home)
    store.add_pupil("P002", "Ben Example", consents={"social": True}, biometric_consent=True,
                    actor="test")
    store.add_pupil("P003", "Cara Example", consents={"social": False}, biometric_consent=True,
                    actor="test")
    store.add_pupil("P004", "Dan Example", consents={"social": True}, actor="test")
    store.enrol("P002", [vec(2)], [TODAY], actor="test")
    store.enrol("P003", [vec(3)], [TODAY], actor="test")
    original = _jpeg()
    face = {"box": [0, 0, 10, 10], "label": "unknown", "action": "redact", "pupil": None,
            "reason": "matches no enrolled pupil", "distance": None,
            "quality": {"width": 200, "sharpness": 80.0, "eye_span": 0.4, "nose_offset": 0.1}}
    faces = [
        {**face, "encoding": near(vec(2), 1, 0.3)},
        {**face, "encoding": near(vec(3), 2, 0.3)},
        {**face, "encoding": [float(x) for x in vec(9)]},
        {**face, "encoding": near(vec(2), 4, 0.2),
         "quality": {**face["quality"], "width": 40}},
    ]
    held_id = HeldQueue(home.held_dir).hold(original, {
        "input": "trip.jpg", "sha256": hashlib.sha256(original).hexdigest(), "channel": "social",
        "faces": faces, "asked": {"by": "test-comms", "note": "Year 4 trip, all consented",
                                  "suggest": ["dan example"], "return_to": None}})
    return home, store, held_id


def door_of(home, store):
    from safeguard.config import Config
    from safeguard.door import Entrance

    who = store.verify_staff(TEST_USER, TEST_PASSWORD)
    return Entrance(store, home, Config()).door(who)


def test_the_nearest_pupils_are_offered_in_words_with_the_suggestion(school):
    home, store, held_id = school
    choices = {c["n"]: c for c in door_of(home, store).face_choices(held_id)}
    assert sorted(choices) == [1, 2, 3, 4]
    [ben] = [c for c in choices[1]["candidates"] if c["pupil"] == "P002"]
    assert ben["nearness"] == "close" and ben["may_be_shown"] and ben["name"] == "Ben Example"
    [cara] = [c for c in choices[2]["candidates"] if c["pupil"] == "P003"]
    assert cara["nearness"] == "close" and not cara["may_be_shown"]
    # nobody is near face 3; comms staff's suggestion is there, and marked as one
    assert [(c["pupil"], c["suggested"]) for c in choices[3]["candidates"]] == [("P004", True)]


def test_a_pupil_who_may_be_shown_is_kept_and_audited(school):
    home, store, held_id = school
    done = door_of(home, store).confirm_face(held_id, 3, "P004")
    assert done == {"face": 3, "pupil": "P004", "kept": True, "reference": None}
    rec = HeldQueue(home.held_dir).record(held_id)
    assert 2 not in previewed(rec) and {0, 1, 3} <= previewed(rec)
    [entry] = [e for e in store.audit.entries(pupil="P004") if e["action"] == "held.confirm"]
    assert entry["actor"] == TEST_USER and entry["details"]["kept"] is True


def test_not_ours_stays_redacted(school):
    home, store, held_id = school
    done = door_of(home, store).confirm_face(held_id, 3, not_ours=True)
    assert done["kept"] is False
    rec = HeldQueue(home.held_dir).record(held_id)
    assert 2 in previewed(rec) and rec["faces"][2]["confirmed"]["not_ours"]
    with pytest.raises(ConfirmError, match="confirmed already"):
        door_of(home, store).confirm_face(held_id, 3, "P004")


def test_a_face_a_restricted_pupil_could_claim_is_refused_and_stays_redacted(school):
    home, store, held_id = school
    with pytest.raises(ConfirmError, match="restricted tolerance of P003"):
        door_of(home, store).confirm_face(held_id, 2, "P004")
    rec = HeldQueue(home.held_dir).record(held_id)
    assert 1 in previewed(rec) and "confirmed" not in rec["faces"][1]
    refused = [e for e in store.audit.entries(pupil="P004") if e["action"] == "held.confirm"]
    assert refused and "restricted tolerance" in refused[-1]["details"]["refused"]


def test_a_face_too_poor_to_be_a_reference_is_refused_for_an_enrolled_pupil(school):
    home, store, held_id = school
    with pytest.raises(ConfirmError, match="face too small"):
        door_of(home, store).confirm_face(held_id, 4, "P002")
    assert 3 in previewed(HeldQueue(home.held_dir).record(held_id))


def test_a_pupil_without_consent_for_the_channel_stays_redacted(school):
    home, store, held_id = school
    store.add_pupil("P005", "Eve Example", consents={"social": False}, actor="test")
    done = door_of(home, store).confirm_face(held_id, 3, "P005")
    assert done == {"face": 3, "pupil": "P005", "kept": False, "reference": None}
    assert 2 in previewed(HeldQueue(home.held_dir).record(held_id))
    with pytest.raises(ConfirmError, match="no pupil P404"):
        door_of(home, store).confirm_face(held_id, 1, "P404")


def test_the_cli_shows_the_nearest_in_words_and_confirms(school, monkeypatch):
    home, _store, held_id = school
    monkeypatch.setenv("SAFEGUARD_HOME", str(home.root))
    r = run_cli("review", "show", held_id, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    nearest = out["faces"][0]["nearest"]
    assert nearest[0]["pupil"] == "P002" and nearest[0]["nearness"] == "close"
    assert "distance" not in nearest[0]  # the number only on request
    assert out["asked"]["note"] == "Year 4 trip, all consented"
    r = run_cli("review", "show", held_id, "--json", "--distances")
    assert isinstance(json.loads(r.output)["faces"][0]["nearest"][0]["distance"], float)
    r = run_cli("review", "confirm", held_id, "--face", "3", "--pupil", "P004")
    assert r.exit_code == 0, r.output
    assert "kept in the release" in r.output
    r = run_cli("review", "confirm", held_id, "--face", "2", "--pupil", "P004")
    assert r.exit_code == 1 and "restricted tolerance" in r.output
    r = run_cli("review", "confirm", held_id, "--face", "1")
    assert r.exit_code == 2


def test_the_page_offers_the_pupils_and_confirms_a_face(school):
    home, _store, held_id = school
    c = client(home)
    sign_in(c, TEST_USER, TEST_PASSWORD)
    page = c.get(f"/held/{held_id}")
    assert page.status_code == 200
    assert "Who is this?" in page.text and "Ben Example" in page.text
    assert "Year 4 trip, all consented" in page.text and "suggested" in page.text
    form = {"csrf": csrf_of(page.text), "choice": "P004"}
    r = c.post(f"/held/{held_id}/face/3/confirm", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/held/{held_id}"
    assert "kept in the release" in c.get(f"/held/{held_id}").text
    r = c.post(f"/held/{held_id}/face/2/confirm", data={**form, "choice": "", "pupil": "P004"})
    assert r.status_code == 303 and "restricted%20tolerance" in r.headers["location"]
    # no CSRF token: refused
    assert c.post(f"/held/{held_id}/face/1/confirm", data={"choice": "P002"}).status_code == 403


def test_a_face_matched_to_a_restricted_pupil_cannot_be_confirmed_as_another(school):
    home, store, held_id = school
    held = HeldQueue(home.held_dir)
    faces = held.record(held_id)["faces"]
    faces[2].update(label="restricted", pupil="P003", reason="no consent for social")
    held.update(held_id, faces=faces)
    with pytest.raises(ConfirmError, match="matched to P003"):
        door_of(home, store).confirm_face(held_id, 3, "P004")
    assert 2 in previewed(held.record(held_id))


def test_two_dsls_confirming_faces_of_one_photo_at_once_both_keep_their_confirmation(school):
    """Two reviewers (threads of their own, each with its own store and door) confirm different
    faces of the same held photo at the same moment, several rounds: neither confirmation is
    lost to the other's write of the sealed record, and confirming the same face at once is
    done by one of them only."""
    import threading

    home, _store, first = school
    held = HeldQueue(home.held_dir)
    base = held.record(first)
    def another(seed):  # face 1 a new photo of Ben each round (the same one would be a repeat)
        faces = [dict(f) for f in base["faces"]]
        faces[0]["encoding"] = near(vec(2), seed, 0.3)
        return held.hold(held.original(first), {**{k: base[k] for k in (
            "input", "sha256", "channel", "asked")}, "faces": faces})

    rounds = [first] + [another(100 + i) for i in range(4)]
    for held_id in rounds:
        gate = threading.Barrier(3)
        done, refused = [], []

        def confirm(n, pupil=None, held_id=held_id, gate=gate, done=done, refused=refused):
            door = door_of(home, open_store(home))
            gate.wait()
            try:
                done.append(door.confirm_face(held_id, n, pupil, not_ours=pupil is None))
            except ConfirmError as e:
                refused.append(str(e))

        threads = [threading.Thread(target=confirm, args=a) for a in ((1, "P002"), (3,), (3,))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        faces = held.record(held_id)["faces"]
        assert faces[0]["confirmed"]["pupil"] == "P002", held_id
        assert faces[2]["confirmed"]["not_ours"], held_id
        assert len(done) == 2 and len(refused) == 1 and "confirmed already" in refused[0]


@pytest.mark.model  # the release makes the copy again through the same checks
def test_a_photo_sent_to_check_goes_back_where_it_came_from_without_a_release_folder(
        school, tmp_path):
    """The page offers no release folder for a photo comms staff sent to check (its copy goes
    back to the folder it was sent from, which the page does not show as a path there), and it
    is released even when no release folder is configured at all."""
    from safeguard.config import Config

    home, _store, held_id = school
    back = tmp_path / "comms-out"
    back.mkdir()
    held = HeldQueue(home.held_dir)
    asked = held.record(held_id)["asked"]
    held.update(held_id, asked={**asked, "return_to": str(back)})
    c = client(home, Config(release_folders=()))
    sign_in(c, TEST_USER, TEST_PASSWORD)
    page = c.get(f"/held/{held_id}")
    assert "The copy goes back to the folder it was sent from." in page.text
    assert 'name="folder"' not in page.text and "No release folder is set up" not in page.text
    r = c.post(f"/held/{held_id}/release", data={"csrf": csrf_of(page.text), "mode": "redacted"})
    assert r.status_code == 303 and r.headers["location"] == "/", r.headers["location"]
    assert len(list(back.iterdir())) == 1
    assert "the folder it was sent from" in c.get("/").text
