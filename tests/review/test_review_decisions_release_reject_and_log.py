"""DSL decisions on held photos, through the web routes and the CLI: release as previewed (the
register pupil's face redacted, metadata stripped, original destroyed, audit entry per pupil),
per-face choices and unredacted releases need a reason, reject destroys the original, the ready
folder must be outside the home, and overdue photos come first in the queue."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from support.helpers import min_distance, open_store, region_encoding
from support.review_support import (
    DSL,
    PASSWORD,
    client,
    copy_home,
    csrf_of,
    review_template,
    run_cli_env,
    sign_in,
)

from safeguard.held import HeldQueue
from safeguard.images import load_image

pytestmark = pytest.mark.model


@pytest.fixture
def setup(tmp_path, tmp_path_factory, reference_encodings):
    root, ids = review_template(tmp_path_factory, reference_encodings)
    home = copy_home(root, tmp_path / "home")
    ready = tmp_path / "ready"
    ready.mkdir()
    return home, ids, ready


def _assert_clean_and_ada_gone(path, rec, reference_encodings):
    from PIL import Image

    with Image.open(path) as im:
        assert not im.getexif() and "exif" not in im.info and "icc_profile" not in im.info
    rgb = load_image(path).rgb
    for face in rec["faces"]:
        left = region_encoding(rgb, face["box"])
        if face["pupil"] == "P001":
            assert left is None or min_distance(left, reference_encodings["ada"]) > 0.6
        elif face["label"] == "cleared":
            assert left is not None and min_distance(left, reference_encodings["ben"]) < 0.45


def test_web_release_as_previewed(setup, reference_encodings):
    home, ids, ready = setup
    held_id = ids["assembly.jpg"]
    rec = HeldQueue(home.held_dir).record(held_id)
    c = client(home)
    sign_in(c)
    queue = c.get("/")
    assert queue.status_code == 200
    assert held_id in queue.text and "CP register" in queue.text
    page = c.get(f"/held/{held_id}")
    assert "Ada Example" in page.text and "CP register" in page.text
    assert c.get(f"/image/{held_id}/preview.jpg").status_code == 200
    r = c.post(
        f"/held/{held_id}/release",
        data={"csrf": csrf_of(page.text), "mode": "redacted", "folder": "0"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "Released" in c.get("/").text
    [out] = list(ready.iterdir())
    assert out.name == "assembly.jpg"
    _assert_clean_and_ada_gone(out, rec, reference_encodings)
    # original destroyed, tombstone kept without who or why
    tomb = HeldQueue(home.held_dir).record(held_id)
    assert tomb["state"] == "released" and tomb["decided_by"] == DSL
    assert not (home.held_dir / held_id / "original").exists()
    assert "faces" not in tomb and "input" not in tomb
    assert held_id not in HeldQueue(home.held_dir).pending()
    assert c.get(f"/image/{held_id}/annotated.jpg").status_code == 404
    # the audit log: one entry per pupil in the photo, findable by pupil in the audit view
    store = open_store(home)
    [entry] = [e for e in store.audit.entries(pupil="P001") if e["action"] == "held.release"]
    assert entry["actor"] == DSL and entry["details"]["decision"] == "redacted"
    assert entry["details"]["file"] == "assembly.jpg"
    assert [e["action"] for e in store.audit.entries(pupil="P002")][-1] == "held.release"
    assert store.audit.verify().ok
    view = c.get("/audit", params={"pupil": "P001", "since": dt.date.today().isoformat()})
    assert f"{DSL} released photo {held_id}" in view.text
    assert held_id not in c.get("/audit", params={"until": "2000-01-01"}).text


def test_per_face_choices_leaving_a_restricted_face_visible_need_a_reason(setup):
    home, ids, ready = setup
    held_id = ids["assembly.jpg"]  # face 1 Ada (CP register), face 2 Ben (cleared)
    c = client(home)
    sign_in(c)
    token = csrf_of(c.get(f"/held/{held_id}").text)
    form = {"csrf": token, "mode": "choices", "folder": "0"}
    r = c.post(f"/held/{held_id}/release", data=form)  # no box ticked: Ada would show
    assert r.status_code == 303 and "error=" in r.headers["location"]
    assert "needs a typed reason" in c.get(r.headers["location"]).text
    assert list(ready.iterdir()) == []
    r = c.post(f"/held/{held_id}/release", data={**form, "redact": ["0", "1"]})
    assert r.headers["location"] == "/"  # redacting more than previewed needs no reason
    [entry] = [
        e
        for e in open_store(home).audit.entries(pupil="P001")
        if e["action"] == "held.release"
    ]
    d = entry["details"]
    assert d["decision"] == "per-face" and d["reason"] is None
    assert [f["redacted"] for f in d["faces"]] == [True, True]


def test_unredacted_release_needs_a_reason(setup):
    home, ids, ready = setup
    held_id = ids["assembly.jpg"]
    c = client(home)
    sign_in(c)
    token = csrf_of(c.get(f"/held/{held_id}").text)
    form = {"csrf": token, "mode": "unredacted", "folder": "0", "reason": "  "}
    r = c.post(f"/held/{held_id}/release", data=form)
    assert "error=" in r.headers["location"] and list(ready.iterdir()) == []
    r = c.post(f"/held/{held_id}/release", data={**form, "reason": "court order lifted"})
    assert r.headers["location"] == "/"
    assert len(list(ready.iterdir())) == 1


def test_ready_folder_must_exist_and_be_outside_the_home(setup):
    home, ids, ready = setup
    held_id = ids["assembly.jpg"]
    c = client(home)
    sign_in(c)
    token = csrf_of(c.get(f"/held/{held_id}").text)
    # the form names a folder by its place in the list; a path, or a number past the list,
    # releases nothing
    for bad in ("7", "-9", "x", "", "0.5", str(home.root), str(ready)):
        r = c.post(f"/held/{held_id}/release",
                   data={"csrf": token, "mode": "redacted", "folder": bad, "out": str(ready)})
        assert "error=" in r.headers["location"], bad
    assert (home.held_dir / held_id / "original").exists()
    assert not any(p.suffix == ".jpg" for p in home.root.rglob("*.jpg"))


def test_web_reject_destroys_the_original_at_once(setup):
    home, ids, _ = setup
    held_id = ids["visit.jpg"]
    c = client(home)
    sign_in(c)
    token = csrf_of(c.get(f"/held/{held_id}").text)
    r = c.post(f"/held/{held_id}/reject", data={"csrf": token, "reason": ""})
    assert "error=" in r.headers["location"]
    assert (home.held_dir / held_id / "original").exists()
    r = c.post(f"/held/{held_id}/reject", data={"csrf": token, "reason": "pupil on CP plan"})
    assert r.headers["location"] == "/"
    assert not (home.held_dir / held_id / "original").exists()
    assert HeldQueue(home.held_dir).record(held_id)["state"] == "rejected"
    actions = [e["action"] for e in open_store(home).audit.entries(pupil="P001")]
    assert actions[-1] == "held.reject"
    # a decided image cannot be decided again
    r = c.post(
        f"/held/{held_id}/release",
        data={"csrf": token, "mode": "redacted", "folder": "0"},
    )
    assert (
        "already+decided" in r.headers["location"] or "already%20decided" in r.headers["location"]
    )


def test_overdue_images_are_flagged_at_the_top(setup):
    home, ids, _ = setup
    q = HeldQueue(home.held_dir)
    old = ids["assembly.jpg"]
    q.update(old, held_at=(dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).isoformat())
    c = client(home)
    sign_in(c)
    text = c.get("/").text
    assert "undecided 31 days" in text
    assert text.index(old) < text.index(ids["visit.jpg"])
    env = {"SAFEGUARD_PASSWORD": PASSWORD}
    r = run_cli_env(env, "--home", home.root, "review", "list", "--as", DSL, "--json")
    items = json.loads(r.stdout)
    assert [i["id"] for i in items] == [old, ids["visit.jpg"]]
    assert items[0]["overdue"] and not items[1]["overdue"]
    assert "CP register" in items[0]["reasons"]


def test_cli_show_release_and_reject(setup, reference_encodings):
    home, ids, ready = setup
    env = {"SAFEGUARD_PASSWORD": PASSWORD}
    a, v = ids["assembly.jpg"], ids["visit.jpg"]
    # no identity: refused before anything is shown
    r = run_cli_env({"SAFEGUARD_USER": ""}, "--home", home.root, "review", "list")
    assert r.exit_code == 1 and "--as USER" in r.output
    r = run_cli_env(
        {"SAFEGUARD_PASSWORD": "wrong password"},
        "--home",
        home.root,
        "review",
        "show",
        a,
        "--as",
        DSL,
    )
    assert r.exit_code == 1 and "Ada" not in r.output
    r = run_cli_env(env, "--home", home.root, "review", "show", a, "--as", DSL, "--json")
    assert r.exit_code == 0, r.output
    shown = json.loads(r.stdout)
    assert [(f["name"], f["redacted_in_preview"]) for f in shown["faces"]] == [
        ("Ada Example", True),
        ("Ben Example", False),
    ]
    r = run_cli_env(env, "--home", home.root, "review", "show", "../../etc/passwd", "--as", DSL)
    assert r.exit_code == 1 and "not a held image id" in r.output
    r = run_cli_env(
        env,
        "--home",
        home.root,
        "review",
        "release",
        a,
        "--as",
        DSL,
        "--out",
        ready,
        "--unredacted",
    )
    assert r.exit_code == 1 and "reason" in r.output
    r = run_cli_env(
        env, "--home", home.root, "review", "release", a, "--as", DSL, "--out", ready, "--json"
    )
    assert r.exit_code == 0, r.output
    done = json.loads(r.stdout)
    assert done["redacted_faces"] == [1] and done["kept_faces"] == [2]
    rec_faces = shown["faces"]
    _assert_clean_and_ada_gone(ready / "assembly.jpg", {"faces": rec_faces}, reference_encodings)
    r = run_cli_env(env, "--home", home.root, "review", "reject", v, "--as", DSL)
    assert r.exit_code == 2  # --reason is required
    r = run_cli_env(
        env,
        "--home",
        home.root,
        "review",
        "reject",
        v,
        "--as",
        DSL,
        "--reason",
        "not suitable",
        "--json",
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["original_destroyed"]
    assert not (home.held_dir / v / "original").exists()
    r = run_cli_env(env, "--home", home.root, "review", "list", "--as", DSL, "--json")
    assert json.loads(r.stdout) == []
    actions = [
        (e["actor"], e["action"])
        for e in open_store(home).audit.entries(pupil="P001")
        if e["action"].startswith("held.")
    ]
    assert actions == [(DSL, "held.release"), (DSL, "held.reject")]


def test_preview_redacts_restricted_and_unknown_faces_the_pipeline_would_not_show():
    from safeguard.review.decisions import previewed

    faces = [
        {"label": "restricted", "action": "hold"},
        {"label": "restricted", "action": "redact"},
        {"label": "unknown", "action": "hold"},
        {"label": "unknown", "action": "redact"},
        {"label": "unknown", "action": "keep"},
        {"label": "cleared", "action": "keep"},
    ]
    assert previewed({"faces": faces}) == {0, 1, 2, 3}
