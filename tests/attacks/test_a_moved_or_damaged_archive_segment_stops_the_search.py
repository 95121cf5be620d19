"""The published-photo index is the DSL's only way to learn which published photos of a child must
come down. Someone who can write to the home moves one of its segments away, cuts it short,
scribbles on it, or puts back the older segments a compaction replaced: the search must not then
report "0 found" over what is left. `find` refuses (exit 1, one line), and the search that follows
a withdrawal puts "archive index incomplete: search not done" on the DSL's takedown list instead.

The index is built here from made-up encodings through the index's own writer (no face models),
as `safeguard index` builds it: segment 1 holds a photo of someone else, segment 2 the photo of
P001 that must come down."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil

import numpy as np
import pytest
from support.helpers import new_home, open_store, run_cli_as
from support.store_fixtures import vec

from safeguard import takedown
from safeguard.index import FileResult, PhotoIndex

INCOMPLETE = "archive index incomplete: search not done"


def _photo(path: str, *encodings: np.ndarray) -> FileResult:
    encs = np.asarray(encodings, dtype=np.float32).reshape(-1, 128)
    boxes = np.tile(np.asarray([[10, 10, 60, 60]], dtype=np.int32), (len(encs), 1))
    return FileResult(path, 1000, 1, hashlib.sha256(path.encode()).hexdigest(), boxes, encs)


@pytest.fixture
def home(tmp_path):
    home = new_home(tmp_path / "home")
    store = open_store(home)
    store.add_pupil("P001", "Ada Example", consents={"website": True}, biometric_consent=True,
                    actor="test")
    store.enrol("P001", [vec(1)], [dt.date.today()], actor="test")
    index = PhotoIndex(home).create()
    with index.lock():
        index.write_segment(1, [_photo("/site/someone-else.jpg", vec(2))], [])
        index.write_segment(2, [_photo("/site/ada-on-sports-day.jpg", vec(1), vec(3))], [])
    return home


def _segment(home, seq: int):
    return PhotoIndex(home).folder / f"seg-{seq:012d}.bin"


def _find(home):
    return run_cli_as("test-dsl", "--home", home.root, "find", "--pupil", "P001")


def _withdraw(home):
    return run_cli_as("test-data", "--home", home.root, "pupils", "consent", "withdraw", "P001",
                      "website", "--by", "Parent")


def test_the_intact_index_finds_the_photo(home):
    r = _find(home)
    assert r.exit_code == 0, r.output
    assert "ada-on-sports-day.jpg" in r.output and "1 photo(s) of P001 among 2" in r.output


def _moved_away(home, tmp_path):
    shutil.move(_segment(home, 2), tmp_path / "kept-elsewhere.bin")


def _cut_short(home, tmp_path):
    seg = _segment(home, 2)
    seg.write_bytes(seg.read_bytes()[:100])


def _scribbled_on(home, tmp_path):
    seg = _segment(home, 2)
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF
    seg.write_bytes(bytes(data))


def _older_segments_put_back(home, tmp_path):
    """Keep copies of the segments, let a compaction replace them, add the photo of P001 in a new
    segment, then remove the current segments and put the older ones back: each is sealed with
    the index's own key and is a true earlier state of the index, without that photo."""
    folder = PhotoIndex(home).folder
    PhotoIndex(home).erase()
    index = PhotoIndex(home).create()
    with index.lock():
        index.write_segment(1, [_photo("/site/someone-else.jpg", vec(2))], [])
        index.write_segment(2, [_photo("/site/another.jpg", vec(4))], [])
    old = {p.name: p.read_bytes() for p in folder.glob("seg-*.bin")}
    with index.lock():
        assert index.compact() == 2
        index.write_segment(4, [_photo("/site/ada-on-sports-day.jpg", vec(1))], [])
    assert "ada-on-sports-day.jpg" in _find(home).output
    for seg in folder.glob("seg-*.bin"):
        seg.unlink()
    for name, data in old.items():
        (folder / name).write_bytes(data)


ATTACKS = [_moved_away, _cut_short, _scribbled_on, _older_segments_put_back]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda f: f.__name__.strip("_"))
def test_find_refuses_an_incomplete_index(home, tmp_path, attack):
    attack(home, tmp_path)
    r = _find(home)
    assert r.exit_code == 1, r.output
    assert "among" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.output


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda f: f.__name__.strip("_"))
def test_a_withdrawal_over_an_incomplete_index_tells_the_dsl_no_search_was_done(
        home, tmp_path, attack):
    attack(home, tmp_path)
    r = _withdraw(home)
    assert r.exit_code == 0, r.output  # the withdrawal itself is recorded whatever the index
    assert "0 found" not in r.output and "Searched" not in r.output
    assert INCOMPLETE in r.output
    (item,) = takedown.list_items(home, open_only=True)
    assert item["pupil"] == "P001" and item["problem"] == INCOMPLETE and item["hits"] == []
    listed = run_cli_as("test-dsl", "--home", home.root, "review", "takedowns")
    assert listed.exit_code == 0 and INCOMPLETE in listed.output, listed.output


def test_a_whole_index_folder_moved_away_is_not_taken_for_no_index(home, tmp_path):
    """The index's key stays in the keys folder: an index was made, so its absence is a fault,
    not a school that never indexed its archive."""
    shutil.move(PhotoIndex(home).folder, tmp_path / "index-elsewhere")
    r = _withdraw(home)
    assert r.exit_code == 0 and INCOMPLETE in r.output, r.output
    (item,) = takedown.list_items(home, open_only=True)
    assert item["problem"] == INCOMPLETE
    assert _find(home).exit_code == 1


def test_the_dsl_sees_the_search_was_not_done_on_the_review_page(home, tmp_path):
    from support.review_support import DSL, PASSWORD, client, sign_in

    open_store(home).add_staff(DSL, "dsl", PASSWORD, actor="test")
    _moved_away(home, tmp_path)
    assert _withdraw(home).exit_code == 0
    c = client(home)
    sign_in(c)
    page = c.get("/takedowns").text
    assert "Published photos to take down" in page and INCOMPLETE in page
    assert 'class="menu-count"' in page  # a search not done is something to deal with
    assert "0 found" not in page
