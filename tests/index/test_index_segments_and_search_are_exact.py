"""The index's arithmetic and bookkeeping, without the face model: the blocked search gives the
brute-force distances, later segments win, tombstones remove, and compaction (even interrupted)
changes nothing that a reader sees."""

from __future__ import annotations

import numpy as np
import pytest

from safeguard.home import Home
from safeguard.index import FileResult, PhotoIndex, nearest, search

pytestmark = pytest.mark.model


def _result(path: str, encs: np.ndarray, sha: str | None = None) -> FileResult:
    n = len(encs)
    boxes = np.tile(np.arange(4, dtype=np.int32), (n, 1)) + np.arange(n, dtype=np.int32)[:, None]
    return FileResult(path, 100, 1, sha or path, boxes, np.asarray(encs, np.float32))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_blocked_search_equals_brute_force(k):
    rng = np.random.default_rng(k)
    enc = (rng.standard_normal((10_001, 128)) * 0.1).astype(np.float32)
    q = (rng.standard_normal((k, 128)) * 0.1).astype(np.float32)
    got = nearest(enc, np.einsum("ij,ij->i", enc, enc), q, block=1000)
    want = np.min(np.linalg.norm(enc[:, None, :] - q[None, :, :], axis=2), axis=1)
    assert np.allclose(got, want, atol=1e-5)


def test_later_segments_win_tombstones_remove_and_compaction_is_invisible(tmp_path):
    rng = np.random.default_rng(0)
    pupil = (rng.standard_normal(128) * 0.1).astype(np.float32)
    other = (rng.standard_normal((3, 128)) * 0.1).astype(np.float32)
    index = PhotoIndex(Home(tmp_path / "home")).create()
    index.write_segment(1, [_result("/a.jpg", np.stack([other[0], pupil + 0.001])),
                            _result("/b.jpg", other[1:2]), _result("/c.jpg", pupil[None])], [])
    # a.jpg edited (pupil cropped out), b.jpg gone
    index.write_segment(2, [_result("/a.jpg", other[2:3], sha="a2")], ["/b.jpg"])
    snap = index.load()
    assert sorted(snap.path) == ["/a.jpg", "/c.jpg"] and snap.faces == 2
    hits = search(snap, pupil[None], 0.5)
    assert [h.path for h in hits] == ["/c.jpg"] and hits[0].distance < 1e-3

    # interrupted compaction: the new segment is written, the old ones not yet deleted
    full = [snap.result(i) for i in range(snap.photos)]
    index.write_segment(3, full, [], replaces_through=2)
    again = index.load()
    assert again.path == snap.path and np.array_equal(again.encodings, snap.encodings)
    assert np.array_equal(again.boxes, snap.boxes)

    # the index's list already names segment 3 alone: the next writer removes what it replaced
    index.clean_temp_files()
    assert [p.name for p in index.folder.glob("seg-*.bin")] == ["seg-000000000003.bin"]
    index.write_segment(4, [_result("/d.jpg", other[0:1])], [])
    assert index.compact() == 2
    assert [p.name for p in index.folder.glob("seg-*.bin")] == ["seg-000000000005.bin"]
    final = index.load()
    assert final.path == snap.path + ["/d.jpg"] and final.sha256 == snap.sha256 + ["/d.jpg"]
    assert np.array_equal(final.encodings[:-1], snap.encodings)


def test_a_renamed_segment_is_refused(tmp_path):
    from safeguard.index import IndexProblem

    index = PhotoIndex(Home(tmp_path / "home")).create()
    index.write_segment(1, [_result("/a.jpg", np.zeros((1, 128), np.float32))], [])
    (index.folder / "seg-000000000001.bin").rename(index.folder / "seg-000000000007.bin")
    with pytest.raises(IndexProblem):
        index.load()
