"""Takedowns on a page of their own: a count in the menu, a thumbnail of each published photo
(read from the sealed list's path, only while the file is what was found), where it is published,
the match in words, and "taken down" / "not ours" marks, each audited; the list closes once every
photo is marked."""

from __future__ import annotations

import hashlib
import re
import shutil

import pytest
from conftest import SAMPLES
from support.helpers import open_store
from support.review_support import DSL, PASSWORD, client, csrf_of, sign_in


@pytest.fixture
def listed(demo_home, tmp_path):
    from safeguard import takedown

    open_store(demo_home).add_staff(DSL, "dsl", PASSWORD, actor="test")
    site = tmp_path / "website"
    site.mkdir()
    hits = []
    for name in ("assembly.jpg", "visit.jpg"):
        shutil.copy(SAMPLES / "photos" / name, site / name)
        hits.append({"path": str(site / name),
                     "sha256": hashlib.sha256((site / name).read_bytes()).hexdigest(),
                     "distance": 0.3127, "box": [40, 40, 120, 120],
                     "faces": [{"box": [40, 40, 120, 120], "distance": 0.3127}]})
    item = takedown.add(demo_home, "P001", "consent withdrawn: website", hits,
                        photos_searched=4)
    return demo_home, item, site


def test_the_takedowns_page_shows_each_photo_in_words_with_a_count_in_the_menu(listed):
    home, item, site = listed
    c = client(home)
    sign_in(c)
    queue = c.get("/")
    assert re.search(r'href="/takedowns">Takedowns <span class="menu-count"[^>]*>2</span>',
                     queue.text)
    assert "2 published photos to take down" in queue.text
    page = c.get("/takedowns")
    assert page.status_code == 200
    assert "Ada Example" in page.text and str(site / "assembly.jpg") in page.text
    assert "Strong match" in page.text
    shown = re.sub(r"<details.*?</details>", "", page.text, flags=re.DOTALL)
    assert "0.31" not in shown and "distance" not in shown
    assert "Web address" not in page.text  # none known: the file only
    from safeguard.config import Config

    published = Config(release_folders=({"label": "Website", "path": str(site),
                                         "url": "https://school.example/photos"},))
    web = client(home, config=published)
    sign_in(web)
    assert 'href="https://school.example/photos/assembly.jpg"' in web.get("/takedowns").text
    thumb = c.get(f"/takedowns/{item}/photo/0.jpg")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert c.get(f"/takedowns/{item}/photo/7.jpg").status_code == 404
    (site / "visit.jpg").write_bytes((site / "assembly.jpg").read_bytes())  # changed since
    assert c.get(f"/takedowns/{item}/photo/1.jpg").status_code == 404


def test_taken_down_and_not_ours_are_audited_and_close_the_list(listed):
    from safeguard import takedown

    home, item, _site = listed
    c = client(home)
    sign_in(c)
    csrf = csrf_of(c.get("/takedowns").text)
    url = f"/takedowns/{item}/photo/0"
    assert c.post(f"{url}/taken-down", data={"csrf": "forged"}).status_code == 403
    assert c.post(f"{url}/gone", data={"csrf": csrf}).status_code == 404
    assert c.post(f"/takedowns/{item}/photo/5/taken-down", data={"csrf": csrf}).status_code \
        == 404
    done = c.post(f"{url}/taken-down", data={"csrf": csrf, "note": "off the website"})
    assert done.status_code == 303
    assert takedown.get(home, item)["state"] == "open"
    page = c.get("/takedowns").text
    assert "Marked taken down by dsl.lead" in page
    assert c.post(f"/takedowns/{item}/photo/1/not-ours", data={"csrf": csrf}).status_code == 303
    assert takedown.get(home, item)["state"] == "closed"
    assert "Nothing is waiting to be taken down" in c.get("/takedowns").text
    assert 'class="menu-count"' not in c.get("/").text
    log = [e for e in open_store(home).audit.entries(pupil="P001")
           if e["action"].startswith("takedown.")]
    assert [(e["action"], e["actor"]) for e in log] == [
        ("takedown.taken_down", DSL), ("takedown.not_ours", DSL), ("takedown.closed", DSL)]
    assert log[0]["details"]["photo"] == "assembly.jpg"
    assert log[0]["details"]["note"] == "off the website"
    audit = c.get("/audit", params={"action": "takedown.taken_down"}).text
    assert "marked assembly.jpg for Ada Example (P001) as taken down" in audit


def test_a_takedown_photo_or_mark_needs_a_signed_in_dsl(listed):
    _home, item, _site = listed
    c = client(listed[0])
    assert c.get(f"/takedowns/{item}/photo/0.jpg").status_code == 401
    assert c.get("/takedowns").status_code in (302, 303)
    assert c.post(f"/takedowns/{item}/photo/0/taken-down", data={}).status_code in (401, 403)
