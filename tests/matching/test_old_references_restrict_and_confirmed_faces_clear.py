"""References on real faces (the bundled samples): a reference past `reference_max_age_months`
no longer clears its pupil but still restricts; a face the DSL confirms joins the pupil's
references and clears their face, and removing it gives back the earlier decision; a
confirmation too near another pupil is refused with the reason."""

import datetime as dt

import pytest
from support.helpers import TEST_PASSWORD, faces_and_encodings, json_lines, open_store, run_cli

from consent_db import StoreError
from safeguard.config import load_config
from safeguard.door import Entrance
from safeguard.enrolment import face_quality

pytestmark = pytest.mark.model

OLD = dt.date.today() - dt.timedelta(days=31 * 30)  # about 30 months ago


def _date_references(home, pupil_id, day):
    store = open_store(home)
    with store._change() as t:
        for key, rec in t.data["pupils"].items():
            if rec["id"] == pupil_id:
                for e in rec["encodings"]:
                    e["photo_date"] = day.isoformat()
                t.data["pupils"][key] = rec
        store._storage.mark_dirty()


def _labels(home, photo, *extra):
    r = run_cli("--home", home.root, "scan", photo, "--json", "--jobs", "1", *extra)
    assert r.exit_code in (0, 1, 3), r.output
    [res] = json_lines(r.stdout)
    return sorted((f["label"], f["action"]) for f in res["faces"])


def _dsl(home):
    store = open_store(home)
    return Entrance(store, home, load_config(home.config_file)).sign_in("test-dsl",
                                                                         TEST_PASSWORD)


def _face_of(photo, refs):
    """(encoding, quality) of the face in `photo` nearest the references `refs`."""
    import numpy as np

    rgb, faces, encs = faces_and_encodings(photo)
    i = int(np.argmin([min(np.linalg.norm(np.asarray(refs) - e, axis=1)) for e in encs]))
    return encs[i], face_quality(rgb, faces[i])


def test_an_old_reference_restricts_but_no_longer_clears(demo_home, photos):
    photo = photos / "assembly.jpg"  # Ada (no consent for social) and Ben (consents)
    assert _labels(demo_home, photo) == [("cleared", "keep"), ("restricted", "redact")]
    _date_references(demo_home, "P001", OLD)
    _date_references(demo_home, "P002", OLD)
    assert _labels(demo_home, photo) == [("restricted", "redact"), ("unknown", "redact")]
    # the school's limit decides: five years, and Ben's references clear him again
    demo_home.config_file.write_text("spot_check_rate = 0.0\nreference_max_age_months = 60\n")
    from support.helpers import accept_settings

    accept_settings(demo_home)
    assert _labels(demo_home, photo) == [("cleared", "keep"), ("restricted", "redact")]


def test_a_confirmed_face_clears_the_pupil_and_removing_it_restores_the_decision(
        demo_home, photos, reference_encodings):
    photo = photos / "assembly.jpg"
    _date_references(demo_home, "P002", OLD)
    before = _labels(demo_home, photo)
    assert before == [("restricted", "redact"), ("unknown", "redact")]
    enc, quality = _face_of(photo, reference_encodings["ben"])
    dsl = _dsl(demo_home)
    ref = dsl.add_reference("P002", enc, dt.date.today(), "confirmation", photo="20261207-abc",
                            quality=quality)
    assert _labels(demo_home, photo) == [("cleared", "keep"), ("restricted", "redact")]
    r = run_cli("--home", demo_home.root, "pupils", "references", "P002", "--json")
    assert r.exit_code == 0, r.output
    assert ref["id"] in r.stdout
    dsl.remove_reference("P002", ref["id"])
    assert _labels(demo_home, photo) == before


def test_a_confirmation_too_near_another_pupil_is_refused(demo_home, photos,
                                                          reference_encodings):
    # Ada's face in the photo, confirmed as Ben: it lies among Ada's references
    enc, quality = _face_of(photos / "assembly.jpg", reference_encodings["ada"])
    with pytest.raises(StoreError, match="too near pupil P001"):
        _dsl(demo_home).add_reference("P002", enc, dt.date.today(), "confirmation",
                                      photo="20261207-abc", quality=quality)
    assert [r["source"] for r in open_store(demo_home).references("P002")] == ["enrolment"]
