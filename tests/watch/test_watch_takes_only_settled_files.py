"""The watcher takes a file only when it is complete: unchanged across two looks and decodable.
Partial and temporary names wait until renamed. Driven with scripted looks (no sleeping), then
once through the real generator on a real folder."""

from __future__ import annotations

import threading
import time

import pytest
from support.watch_helpers import faceless_jpeg

from safeguard.watch import Settler, Sig, is_ignored, quick_decodes, settled_files

pytestmark = pytest.mark.model


def sig(size, mtime=1, ctime=None, regular=True):
    return Sig(size, mtime, ctime if ctime is not None else mtime, 7, regular)


def test_a_growing_file_is_not_taken_until_it_stops_changing():
    s = Settler(settle=1.0, give_up=30, decodes=lambda rel: True)
    wall = 1e9  # mtimes below are "just now"
    for t, size in enumerate([100, 200, 300, 400]):  # one look a second, growing each time
        assert s.observe(t, wall, {"a.jpg": sig(size, mtime=t)}) == []
    assert s.observe(3.5, wall, {"a.jpg": sig(400, mtime=3)}) == []  # unchanged, but for 0.5 s
    assert s.observe(4.0, wall, {"a.jpg": sig(400, mtime=3)}) == ["a.jpg"]
    assert s.observe(9.0, wall, {"a.jpg": sig(400, mtime=3)}) == []  # taken once only


def test_two_looks_at_least_settle_apart_are_needed():
    s = Settler(settle=1.0, give_up=30, decodes=lambda rel: True)
    assert s.observe(0.0, 0, {"a.jpg": sig(10)}) == []
    assert s.observe(0.5, 0, {"a.jpg": sig(10)}) == []
    assert s.observe(1.0, 0, {"a.jpg": sig(10)}) == ["a.jpg"]


def test_an_undecodable_file_waits_then_is_taken_to_be_rejected():
    calls = []
    s = Settler(settle=1.0, give_up=10, decodes=lambda rel: calls.append(rel) or False)
    wall = 1000.0
    snap = {"cut.jpg": sig(10, mtime=int(wall * 1e9))}
    assert s.observe(0, wall, snap) == []
    assert s.observe(1, wall + 1, snap) == []  # stable but does not decode: maybe still copying
    assert s.observe(5, wall + 5, snap) == []
    assert calls == ["cut.jpg"]  # decoded once per signature, not on every look
    assert s.observe(10, wall + 10, snap) == ["cut.jpg"]


def test_an_old_undecodable_file_is_taken_at_once():
    s = Settler(settle=1.0, give_up=10, decodes=lambda rel: False)
    old = {"junk.jpg": sig(10, mtime=int(100 * 1e9))}  # last changed long before "now"
    s.observe(0, 5000.0, old)
    assert s.observe(1, 5001.0, old) == ["junk.jpg"]


def test_a_file_that_changes_after_settling_starts_again():
    s = Settler(settle=1.0, give_up=30, decodes=lambda rel: True)
    s.observe(0, 0, {"a.jpg": sig(10)})
    assert s.observe(1, 0, {"a.jpg": sig(10)}) == ["a.jpg"]
    # The same name with new content (a second photo under the same name) is a new file.
    assert s.observe(2, 0, {"a.jpg": sig(20, mtime=2)}) == []
    assert s.observe(3, 0, {"a.jpg": sig(20, mtime=2)}) == ["a.jpg"]


def test_links_and_other_non_files_are_taken_without_decoding():
    s = Settler(settle=1.0, give_up=30, decodes=lambda rel: 1 / 0)
    s.observe(0, 0, {"link.jpg": sig(10, regular=False)})
    assert s.observe(1, 0, {"link.jpg": sig(10, regular=False)}) == ["link.jpg"]


def test_partial_temporary_hidden_and_system_names_are_ignored():
    for name in ["IMG_1.jpg.part", "IMG_1.JPG.crdownload", "x.tmp", "~$report.docx", ".IMG_1.jpg",
                 ".DS_Store", "Thumbs.db", "desktop.ini", "_safeguard-status.txt", "a.partial"]:
        assert is_ignored(name), name
    for name in ["IMG_1.jpg", "party.part.jpg", "tmp.png", "a~$b.jpg"]:
        assert not is_ignored(name), name


def test_a_truncated_jpeg_does_not_decode(tmp_path):
    data = faceless_jpeg(1, (800, 600))
    whole, cut = tmp_path / "whole.jpg", tmp_path / "cut.jpg"
    whole.write_bytes(data)
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert quick_decodes(whole)
    assert not quick_decodes(cut)
    (tmp_path / "text.jpg").write_text("not an image")
    assert not quick_decodes(tmp_path / "text.jpg")


def _collect(inbox, stop, out, **kw):
    for batch in settled_files(inbox, stop, **kw):
        out.extend(batch)


def test_the_generator_yields_renamed_files_and_stops_on_its_event(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    stop, got = threading.Event(), []
    t = threading.Thread(target=_collect, args=(inbox, stop, got), kwargs={"settle": 0.1})
    t.start()
    try:
        (inbox / "a.jpg.part").write_bytes(faceless_jpeg(2))
        (inbox / "sub" / "b.jpg").write_bytes(faceless_jpeg(3))
        time.sleep(0.6)
        assert got == ["sub/b.jpg"]  # the .part file waits
        (inbox / "a.jpg.part").rename(inbox / "a.jpg")
        deadline = time.monotonic() + 5
        while "a.jpg" not in got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == ["sub/b.jpg", "a.jpg"]
    finally:
        stop.set()
        t.join(timeout=5)
    assert not t.is_alive()


def test_once_mode_ends_when_everything_present_was_yielded(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(3):
        (inbox / f"{i}.jpg").write_bytes(faceless_jpeg(i))
    got = []
    start = time.monotonic()
    _collect(inbox, threading.Event(), got, settle=0.1, once=True, poll=0.1)
    assert sorted(got) == ["0.jpg", "1.jpg", "2.jpg"]
    assert time.monotonic() - start < 5
