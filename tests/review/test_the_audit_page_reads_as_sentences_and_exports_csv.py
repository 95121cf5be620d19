"""The audit page for a DSL: sentences, not codes and JSON; filters by person, pupil, action and
date; sign-ins hidden unless asked for; the same rows as a CSV for a governor or an inspector
(the export itself audited); the record as stored only behind "show the record"."""

from __future__ import annotations

import csv
import io
import re

from support.helpers import open_store
from support.review_support import DSL, PASSWORD, client, sign_in


def _visible(html: str) -> str:
    """The rows of the page's table without what sits inside a closed <details> (the
    record); the error line, if any."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, flags=re.DOTALL)
    errors = re.findall(r'<p class="error".*?</p>', html, flags=re.DOTALL)
    return re.sub(r"<details.*?</details>", "", body.group(1) if body else "",
                  flags=re.DOTALL) + "".join(errors)


def _home(demo_home):
    store = open_store(demo_home)
    store.add_staff(DSL, "dsl", PASSWORD, actor="test")
    store.add_register("P002", "cp", actor="test")
    store.audit.append(DSL, "held.release", "P001", {
        "held_id": "20261207-aaaabbbbcccc", "decision": "redacted", "channel": "social",
        "faces": [{"n": 1, "redacted": True}, {"n": 2, "redacted": True}]})
    return store


def test_the_audit_page_tells_what_happened_in_sentences_with_sign_ins_hidden(demo_home):
    _home(demo_home)
    c = client(demo_home)
    sign_in(c)
    page = c.get("/audit")
    assert page.status_code == 200
    text = _visible(page.text)
    assert f"{DSL} released photo 20261207-aaaabbbbcccc for social with 2 faces blurred" in text
    assert "test put Ben Example (P002) on the CP register" in text
    assert "signed in" not in text and "sign-ins hidden" in page.text
    # codes and raw JSON only in the record, for whoever opens it
    assert '"held_id"' not in text and "show the record" in page.text
    assert '&#34;held_id&#34;' in page.text or '"held_id"' in page.text
    with_sign_ins = _visible(c.get("/audit", params={"signins": "1"}).text)
    assert f"{DSL} signed in on the review page" in with_sign_ins


def test_the_audit_page_filters_by_pupil_name_person_and_action(demo_home):
    _home(demo_home)
    c = client(demo_home)
    sign_in(c)
    ada = _visible(c.get("/audit", params={"pupil": "ada"}).text)
    assert "released photo" in ada and "Ben Example (P002)" not in ada
    regs = _visible(c.get("/audit", params={"action": "register.add"}).text)
    assert "on the CP register" in regs and "released photo" not in regs
    mine = _visible(c.get("/audit", params={"person": DSL}).text)
    assert "released photo" in mine and "on the CP register" not in mine
    bad = c.get("/audit", params={"since": "yesterday"})
    assert "dates are YYYY-MM-DD" in bad.text


def test_the_audit_log_downloads_as_a_csv_and_the_download_is_recorded(demo_home):
    store = _home(demo_home)
    c = client(demo_home)
    assert c.get("/audit.csv").status_code in (303, 401)  # nothing without a session
    sign_in(c)
    r = c.get("/audit.csv", params={"pupil": "P001"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["When (UTC)", "Who", "What happened", "Pupil", "Pupil id", "Action"]
    assert any("released photo 20261207-aaaabbbbcccc" in row[2] and row[3] == "Ada Example"
               for row in table[1:])
    assert all(row[4] == "P001" for row in table[1:])
    [export] = [e for e in store.audit.entries() if e["action"] == "audit.export"]
    assert export["actor"] == DSL and export["details"]["rows"] == len(table) - 1


def test_a_csv_cell_cannot_become_a_spreadsheet_formula():
    from safeguard.review.audit_page import as_csv

    row = {"ts": "2026-12-07T10:00:00", "who": "=cmd()", "sentence": "+1", "name": "@x",
           "pupil": "-2", "action": "a"}
    [_, cells] = list(csv.reader(io.StringIO(as_csv([row]))))
    assert cells[1:5] == ["'=cmd()", "'+1", "'@x", "'-2"]
