"""A pupil's references: each encoding with its photo's date, where it came from (enrolment or a
face the DSL confirmed), who added it and when; stores made before references keep every
encoding; adding, listing and removing go through the door, by role, and are audited."""

import datetime as dt

import numpy as np
import pytest
from support.helpers import TEST_PASSWORD, open_store
from support.store_fixtures import make_home, vec

from consent_db import StoreError
from consent_db.references import is_current, months_before
from safeguard.config import Config
from safeguard.door import Entrance, Refused
from safeguard.enrolment import FaceQuality

GOOD = FaceQuality(width=160, sharpness=120.0, eye_span=0.45, nose_offset=0.1)
TODAY = dt.date.today()


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path)


@pytest.fixture
def store(home):
    s = open_store(home)
    s.add_pupil("P001", "Ada", consents={"social": True}, biometric_consent=True)
    s.add_pupil("P002", "Ben", consents={"social": True}, biometric_consent=True)
    s.add_pupil("P003", "Cy", consents={"social": True})  # no biometric consent
    return s


def door(store, home, user):
    return Entrance(store, home, Config()).sign_in(user, TEST_PASSWORD)


def _strip_to_old_format(store):
    """Write the encodings' records as stores before references had them."""
    with store._change() as t:
        for key, rec in t.data["pupils"].items():
            rec["encodings"] = [{"id": e["id"], "photo_date": e["photo_date"],
                                 "enrolled": e["added"][:10]} for e in rec["encodings"]]
            t.data["pupils"][key] = rec
        store._storage.mark_dirty()


def test_an_older_store_keeps_every_encoding_as_an_enrolment_reference(store, home):
    ids = store.enrol("P001", [vec(1), vec(2)], [TODAY, TODAY], actor="dm")
    ids += store.enrol("P002", [vec(3)], [TODAY], actor="dm")
    _strip_to_old_format(store)
    reopened = open_store(home)
    refs = reopened.references("P001")
    assert sorted(r["id"] for r in refs) == sorted(ids[:2])
    assert all(r["source"] == "enrolment" and r["by"] is None and r["photo"] is None
               and r["taken"] == TODAY.isoformat() and r["added"] == TODAY.isoformat()
               for r in refs)
    assert reopened.match_matrix("social").encodings.shape == (3, 128)
    # the next change writes the records out in full and loses none
    new = reopened.add_reference("P001", vec(4), TODAY, "confirmation", by="dsl", photo="h-1")
    refs = reopened.references("P001")
    assert sorted(r["id"] for r in refs) == sorted(ids[:2] + [new["id"]])
    assert {r["source"] for r in refs} == {"enrolment", "confirmation"}
    m = reopened.match_matrix("social")
    assert m.encodings.shape == (4, 128)
    _metas, encs = reopened.pupil_encodings("P001")
    assert any(np.allclose(e, vec(1)) for e in encs) and any(np.allclose(e, vec(4)) for e in encs)


def test_enrolment_records_its_provenance(store):
    store.enrol("P001", [vec(1)], [dt.date(2026, 9, 1)], actor="dm")
    [ref] = store.references("P001")
    assert ref["source"] == "enrolment" and ref["by"] == "dm" and ref["taken"] == "2026-09-01"
    assert ref["added"].startswith(TODAY.isoformat()) and ref["photo"] is None


def test_a_dsl_adds_lists_and_removes_a_confirmed_reference_and_each_is_audited(store, home):
    store.enrol("P002", [vec(3)], [TODAY], actor="dm")
    dsl = door(store, home, "test-dsl")
    ref = dsl.add_reference("P002", vec(5), TODAY - dt.timedelta(days=3), "confirmation",
                            photo="20261207-abc123", quality=GOOD)
    assert ref["by"] == "test-dsl" and ref["photo"] == "20261207-abc123"
    listed = {r["id"]: r for r in dsl.references("P002")}
    assert listed[ref["id"]]["source"] == "confirmation" and listed[ref["id"]]["current"]
    assert len(listed) == 2
    gone = dsl.remove_reference("P002", ref["id"])
    assert gone["id"] == ref["id"]
    assert [r["source"] for r in dsl.references("P002")] == ["enrolment"]
    assert store.match_matrix("social").encodings.shape == (1, 128)
    actions = [e["action"] for e in store.audit.entries("P002")]
    assert "references.add" in actions and "references.remove" in actions
    with pytest.raises(StoreError, match="no reference"):
        dsl.remove_reference("P002", ref["id"])


def test_only_the_dsl_adds_a_confirmation_and_only_staff_who_enrol_list_or_remove(store, home):
    store.enrol("P002", [vec(3)], [TODAY], actor="dm")
    data = door(store, home, "test-data")
    with pytest.raises(Refused, match="confirm"):
        data.add_reference("P002", vec(5), TODAY, "confirmation", photo="h", quality=GOOD)
    assert len(data.references("P002")) == 1  # the data manager lists them ...
    data.add_reference("P002", vec(6), TODAY, "enrolment", quality=GOOD)  # ... and enrols
    comms = door(store, home, "test-comms")
    for call in (lambda: comms.references("P002"),
                 lambda: comms.remove_reference("P002", "x"),
                 lambda: comms.add_reference("P002", vec(5), TODAY, "confirmation",
                                             quality=GOOD)):
        with pytest.raises(Refused):
            call()
    with pytest.raises(Refused, match="signed-in account"):
        door(store, home, "test-dsl").add_reference("P002", vec(7), TODAY, "confirmation",
                                                    by="someone-else", quality=GOOD)


def test_a_reference_is_refused_with_its_reason(store, home):
    store.enrol("P001", [vec(1)], [TODAY], actor="dm")
    store.enrol("P002", [vec(3)], [TODAY], actor="dm")
    dsl = door(store, home, "test-dsl")
    cases = [
        ("P003", vec(8), GOOD, "no biometric consent"),
        ("P002", vec(8), FaceQuality(60, 120.0, 0.45, 0.1), "too small"),
        ("P002", vec(8), FaceQuality(160, 5.0, 0.45, 0.1), "blurred"),
        ("P002", vec(8), FaceQuality(160, 120.0, 0.45, 0.7), "not seen from the front"),
        ("P002", vec(8), None, "cannot be checked"),
        ("P002", vec(3) + 0.001, GOOD, "near-duplicate"),
        ("P002", vec(1) + 0.01, GOOD, "too near pupil P001"),
    ]
    for pid, enc, quality, why in cases:
        with pytest.raises(StoreError, match=why):
            dsl.add_reference(pid, enc, TODAY, "confirmation", photo="h-2", quality=quality)
    assert len(store.references("P002")) == 1
    refused = [e for e in store.audit.entries() if e["action"] == "references.refuse"]
    assert len(refused) == len(cases)


def test_a_reference_needs_a_known_source_and_a_date(store):
    with pytest.raises(StoreError, match="source"):
        store.add_reference("P001", vec(1), TODAY, "guess")
    with pytest.raises(StoreError, match="date"):
        store.add_reference("P001", vec(1), None, "enrolment")
    with pytest.raises(StoreError, match="held photo id"):
        store.add_reference("P001", vec(1), TODAY, "confirmation", photo="../../x y")


def test_a_reference_is_current_up_to_the_age_limit():
    day = dt.date(2026, 3, 31)
    assert months_before(day, 1) == dt.date(2026, 2, 28)
    assert months_before(day, 24) == dt.date(2024, 3, 31)
    assert is_current({"photo_date": "2024-03-31"}, day, 24)
    assert not is_current({"photo_date": "2024-03-30"}, day, 24)
    assert is_current({"photo_date": "2001-01-01"}, day, None)
    assert not is_current({}, day, 24)  # no date at all: fail closed


def test_old_references_of_a_consenting_pupil_only_rival_and_a_restricted_pupils_all_restrict(
        store):
    old = TODAY - dt.timedelta(days=3 * 365)
    store.refuse_consent("P001", "social", given_by="parent")
    store.enrol("P001", [vec(1)], [old], actor="dm")  # restricted, old
    store.enrol("P002", [vec(3), vec(4)], [old, TODAY], actor="dm")  # consenting, one old
    m = store.match_matrix("social", max_age_months=24)
    assert m.encodings.shape == (3, 128)
    assert m.pupil_ids == ["P001", "P002", "P002"]
    assert list(m.restricted) == [True, False, False]
    assert list(m.rivals) == [False, False, True]
    assert store.match_matrix("social").rivals is None  # no limit: no rivals


def test_pupils_references_lists_them_and_removes_one(store, home):
    from support.helpers import run_cli, run_cli_as

    store.enrol("P002", [vec(3)], [dt.date(2023, 9, 1)], actor="dm")
    ref = store.add_reference("P002", vec(5), TODAY, "confirmation", by="test-dsl",
                              photo="20261207-abc123")
    r = run_cli("--home", home.root, "pupils", "references", "P002")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "2 reference(s), 1 young enough to clear (at most 24 months old)" in lines[0]
    assert "2023-09-01  enrolment" in lines[1] and "by dm" in lines[1]
    assert "too old to clear; still restricts" in lines[1]
    assert "confirmation" in lines[2] and "by test-dsl" in lines[2]
    assert "held photo 20261207-abc123" in lines[2] and ref["id"] in lines[2]
    r = run_cli_as("test-data", "--home", home.root, "pupils", "references", "P002", "--json")
    assert r.exit_code == 0, r.output
    import json

    listed = json.loads(r.stdout)
    assert [(x["source"], x["current"]) for x in listed] == [("enrolment", False),
                                                           ("confirmation", True)]
    r = run_cli_as("test-comms", "--home", home.root, "pupils", "references", "P002")
    assert r.exit_code != 0
    r = run_cli("--home", home.root, "pupils", "references", "P002", "--remove", ref["id"],
                "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["removed"]["id"] == ref["id"]
    assert [x["source"] for x in store.references("P002")] == ["enrolment"]
    r = run_cli("--home", home.root, "pupils", "references", "P002", "--remove", ref["id"])
    assert r.exit_code != 0 and "no reference" in r.output


def test_status_and_the_dpia_pack_count_pupils_with_no_current_reference(store, home, tmp_path):
    import json

    from support.helpers import run_cli

    store.enrol("P001", [vec(1)], [TODAY - dt.timedelta(days=3 * 365)], actor="dm")  # too old
    store.enrol("P002", [vec(3)], [TODAY], actor="dm")
    store.add_reference("P002", vec(5), TODAY, "confirmation", by="test-dsl", photo="h-1")
    r = run_cli("--home", home.root, "status", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["references"] == {"no_current_reference": 1, "confirmed": 1,
                                                  "max_age_months": 24}
    r = run_cli("--home", home.root, "status")
    assert "references:   1 pupil(s) with biometric consent have no reference younger than 24 " \
           "months" in r.stdout
    r = run_cli("--home", home.root, "dpia", "--out", tmp_path / "pack")
    assert r.exit_code == 0, r.output
    md = (tmp_path / "pack" / "dpia.md").read_text()
    assert "no reference younger than 24 months (none of their faces is cleared) | 1 |" in md
    assert "| references the DSL confirmed (faces in photos) | 1 |" in md
