"""Photo consent: expired, withdrawn, refused and never-given all count as no consent."""

import datetime as dt

from support.store_fixtures import make_store, vec


def test_expired_consent_counts_as_none(tmp_path):
    s = make_store(tmp_path)
    s.add_pupil("P001", "Ada", biometric_consent=True)
    s.grant_consent(
        "P001",
        "social",
        given_by="Mum",
        date="2024-09-01",
        expires="2025-07-31",
        evidence="form 2024/17",
    )
    s.enrol("P001", [vec(1)], [dt.date(2024, 9, 1)])
    assert s.consent_for("P001", "social", today=dt.date(2025, 7, 31))[0]
    ok, why = s.consent_for("P001", "social", today=dt.date(2025, 8, 1))
    assert not ok and "expired on 2025-07-31" in why
    m = s.match_matrix("social", today=dt.date(2025, 8, 1))
    assert m.restricted[0] and "expired" in m.reasons[0] and not m.on_register[0]
    assert not s.match_matrix("social", today=dt.date(2025, 6, 1)).restricted[0]


def test_withdrawn_and_refused_count_as_none(tmp_path):
    s = make_store(tmp_path)
    s.add_pupil("P001", "Ada", consents={"social": True, "press": False})
    s.withdraw_consent("P001", "social", by="Mum", date="2025-02-01")
    assert s.consent_for("P001", "social")[1] == "consent for social withdrawn on 2025-02-01"
    assert not s.consent_for("P001", "press")[0]
    assert not s.consent_for("P001", "website")[0]
    # the earlier grant is kept in the history for subject access
    assert s.get_pupil("P001")["consent_history"][0]["state"] == "granted"


def test_listing_filters(tmp_path):
    s = make_store(tmp_path)
    today = dt.date(2025, 6, 1)
    s.add_pupil("A", "A", consents={"social": True}, biometric_consent=True)
    s.add_pupil("B", "B", consents={"social": True}, registers=["lac"])
    s.add_pupil("C", "C", consents={"social": False})
    s.grant_consent("A", "website", given_by="Mum", date="2025-01-01", expires="2025-06-20")
    s.enrol("A", [vec(1), vec(2)], [dt.date(2024, 1, 1), dt.date(2025, 5, 1)])
    ids = lambda rows: [p["id"] for p in rows]
    assert ids(s.list_pupils(restricted_for="social", today=today)) == ["B", "C"]
    assert ids(s.list_pupils(register="lac")) == ["B"]
    assert ids(s.list_pupils(register="any")) == ["B"]
    assert ids(s.list_pupils(stale=True, today=today)) == ["A"]
    assert ids(s.list_pupils(expiring_within=30, today=today)) == ["A"]
    assert ids(s.list_pupils(expiring_within=10, today=today)) == []
