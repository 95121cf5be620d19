"""The biometric ledger: a child's objection beats parental consent, objection and withdrawal
destroy encodings at once and say so, and enrolment is refused whenever the ledger does not allow."""

import datetime as dt

import pytest
from support.store_fixtures import make_store, vec

from consent_db import StoreError
from consent_db import ledger as L


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    s.add_pupil("P001", "Ada", consents={"social": True})
    s.biometric_notify("P001", "Mum", date="2025-01-02")
    s.biometric_notify("P001", "Dad", date="2025-01-02")
    s.biometric_consent("P001", "Mum", date="2025-01-10", evidence="form 17")
    s.enrol("P001", [vec(1), vec(2)], [dt.date(2025, 1, 1)] * 2)
    return s


def _encodings_on_disk(store, pid):
    return len(store.pupil_encodings(pid)[1])


def test_child_objection_overrides_parent_consent(store):
    n = store.biometric_object(
        "P001", "child", child=True, form="behaviour", note="turned away from the camera"
    )
    assert n == 2
    assert _encodings_on_disk(store, "P001") == 0
    assert "P001" not in store.match_matrix("social").pupil_ids
    # a later written consent from the other parent does not lift the child's objection
    store.biometric_consent("P001", "Dad", date="2025-02-01")
    st = store.biometric_status("P001")
    assert not st.allowed and "child objected" in st.reason
    with pytest.raises(StoreError, match="child objected"):
        store.enrol("P001", [vec(3)], [dt.date(2025, 2, 1)])


def test_withdrawal_destroys_encodings_and_records_it(store):
    n = store.biometric_withdraw("P001", "Mum", date="2025-03-01")
    assert n == 2 and _encodings_on_disk(store, "P001") == 0
    p = store.get_pupil("P001")
    assert p["encodings"] == []
    assert p["biometric"]["destroyed"][-1]["count"] == 2
    actions = [e["action"] for e in store.audit.entries(pupil="P001")]
    assert actions[-2:] == ["biometric.withdrawal", "encodings.destroy"]
    with pytest.raises(StoreError, match="withdrawn"):
        store.enrol("P001", [vec(3)], [dt.date(2025, 3, 1)])
    # a fresh written consent after the withdrawal allows enrolment again
    store.biometric_consent("P001", "Mum", date="2025-04-01")
    assert store.biometric_status("P001").allowed


def test_any_parent_objection_stops_processing(store):
    assert store.biometric_object("P001", "Dad", form="written") == 2
    assert not store.biometric_status("P001").allowed
    # Mum's consent stands, but Dad's objection stands too until Dad himself consents
    store.biometric_consent("P001", "Dad", date="2025-05-01")
    assert store.biometric_status("P001").allowed


def test_no_consent_means_no_enrolment(tmp_path):
    s = make_store(tmp_path)
    s.add_pupil("P002", "Ben")
    s.biometric_notify("P002", "Mum")  # notification alone allows nothing
    with pytest.raises(StoreError, match="no written parental consent"):
        s.enrol("P002", [vec(1)], [dt.date(2025, 1, 1)])


def test_ledger_rules_are_pure():
    ev = lambda *a, **k: L.event(*a, date="2025-01-01", **k)
    assert not L.status(None).allowed
    assert L.status({"events": [ev("consent", who="Mum")]}).allowed
    assert not L.status(
        {
            "events": [
                ev("consent", who="Mum"),
                ev("objection", who="child", party="child", form="verbal"),
            ]
        }
    ).allowed
    with pytest.raises(ValueError):
        L.event("consent", who="child", party="child", date="2025-01-01")
