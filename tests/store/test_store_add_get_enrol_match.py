"""The matching interface the pipeline uses: add, get, enrol, match_matrix."""

import datetime as dt

import numpy as np
import pytest
from support.helpers import open_store
from support.store_fixtures import TODAY, make_home, vec

from consent_db import StoreError

pytestmark = pytest.mark.model


@pytest.fixture
def home(tmp_path):
    return make_home(tmp_path)


@pytest.fixture
def store(home):
    return open_store(home)


def test_added_pupil_reads_back(store):
    store.add_pupil(
        "P001",
        "Ada Example",
        consents={"social": False, "website": True},
        biometric_consent=True,
        academy="North",
        year="Y5",
        leaving_date="2027-07-20",
    )
    p = store.get_pupil("P001")
    assert p["name"] == "Ada Example"
    assert p["academy"] == "North" and p["year"] == "Y5" and p["leaving_date"] == "2027-07-20"
    assert p["consents"]["social"]["state"] == "refused"
    assert p["consents"]["website"]["state"] == "granted"
    assert store.get_pupil("P999") is None


def test_duplicate_id_and_unknown_channel_are_refused(store):
    store.add_pupil("P001", "Ada")
    with pytest.raises(StoreError, match="already exists"):
        store.add_pupil("P001", "Ada again")
    with pytest.raises(StoreError, match="unknown channel"):
        store.add_pupil("P002", "Ben", consents={"tiktok": True})
    with pytest.raises(StoreError, match="unknown register"):
        store.add_pupil("P003", "Cy", registers=["xx"])


def test_enrol_without_biometric_consent_is_refused(store):
    store.add_pupil("P001", "Ada", consents={"social": True})
    with pytest.raises(StoreError, match="no written parental consent"):
        store.enrol("P001", [vec(1)], [TODAY])
    assert store.match_matrix("social").encodings.shape == (0, 128)


def test_match_matrix_rows_restrictions_and_reasons(store):
    store.add_pupil(
        "P001", "Ada", consents={"social": False, "website": True}, biometric_consent=True
    )
    store.add_pupil(
        "P002", "Ben", registers=["cp"], consents={"social": True}, biometric_consent=True
    )
    store.add_pupil("P003", "Cy", consents={"social": True}, biometric_consent=True)
    store.add_pupil("P004", "Di", consents={"social": True})  # no encodings: not in the matrix
    e1 = [vec(1), vec(2)]
    store.enrol("P001", e1, [TODAY, TODAY])
    store.enrol("P002", [vec(3)], [TODAY])
    store.enrol("P003", [vec(4)], [TODAY])

    m = store.match_matrix("social", today=TODAY)
    assert sorted(m.pupil_ids) == ["P001", "P002", "P003"]
    assert m.encodings.shape == (4, 128) and m.encodings.dtype == np.float32
    assert m.row_pupil.dtype == np.int32 and m.sq_norms.shape == (4,)
    np.testing.assert_allclose(m.sq_norms, (m.encodings**2).sum(1), rtol=1e-5)
    by = {pid: i for i, pid in enumerate(m.pupil_ids)}
    assert m.restricted[by["P001"]] and not m.on_register[by["P001"]]
    assert m.restricted[by["P002"]] and m.on_register[by["P002"]]
    assert "CP register" in m.reasons[by["P002"]]
    assert not m.restricted[by["P003"]] and m.reasons[by["P003"]] == ""
    # the rows of P001 are its encodings, and matching finds them
    d = m.distances(e1[1])
    best = int(np.argmin(d))
    assert m.pupil_ids[m.row_pupil[best]] == "P001" and d[best] < 1e-3

    w = store.match_matrix("website", today=TODAY)
    assert not w.restricted[w.pupil_ids.index("P001")]
    assert w.restricted[w.pupil_ids.index("P003")]  # never given for website


def test_store_reopens_with_everything(home):
    s = open_store(home)
    s.add_pupil("P001", "Ada", biometric_consent=True)
    s.enrol("P001", [vec(7)], [dt.date(2024, 9, 1)])
    s2 = open_store(home)
    metas, vecs = s2.pupil_encodings("P001")
    assert metas[0]["photo_date"] == "2024-09-01"
    np.testing.assert_array_equal(vecs[0], vec(7))
