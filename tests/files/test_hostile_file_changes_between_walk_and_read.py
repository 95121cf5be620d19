"""A file that vanishes, or turns into something else, between the folder walk and the read.

Deterministic: the folder is walked with collect_inputs, the file is changed, then the batch runs.
The changed file is rejected with a one-line reason; the rest of the batch is exported.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFile
from support import hostile_corpus as hc

from consent_db import MatchMatrix
from safeguard.config import Config
from safeguard.images import LoadError, decode_image
from safeguard.pipeline import Job, collect_inputs, process_batch

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _job(out: Path) -> Job:
    empty = MatchMatrix(
        np.zeros((0, 128), np.float32),
        np.zeros(0, np.float32),
        np.zeros(0, np.int32),
        [],
        np.zeros(0, bool),
        np.zeros(0, bool),
        [],
        "social",
    )
    return Job(
        config=Config(), channel="social", matrix=empty, out_dir=out
    )


def _swap_to_fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def _swap_to_link(p: Path) -> None:
    target = p.parent.parent / "elsewhere.jpg"
    target.write_bytes(hc.jpeg(hc.pattern()))
    p.unlink()
    os.symlink(target, p)


def _shrink(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize(
    "change,reason",
    [
        (Path.unlink, "file vanished before it could be read"),
        (lambda p: p.write_bytes(b""), "empty file"),
        (_shrink, "image data truncated"),
        (_swap_to_fifo, "not a regular file"),
        (_swap_to_link, "symbolic link: not followed"),
    ],
    ids=["deleted", "emptied", "cut-short", "became-a-fifo", "became-a-link"],
)
def test_changed_file_is_rejected_and_batch_carries_on(tmp_path, change, reason):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (inbox / name).write_bytes(hc.jpeg(hc.pattern()))
    files, early = collect_inputs([inbox])
    assert [f.name for f in files] == ["a.jpg", "b.jpg", "c.jpg"] and not early
    change(inbox / "b.jpg")
    result: list = []
    # a FIFO must be refused, not waited on: run in a thread and give it a deadline
    t = threading.Thread(
        target=lambda: result.extend(process_batch(files, _job(tmp_path / "o"), 1)), daemon=True
    )
    t.start()
    t.join(60)
    assert not t.is_alive(), "the batch blocked on the changed file"
    by_name = {Path(o.input).name: o for o in result}
    assert by_name["b.jpg"].status == "rejected"
    assert by_name["b.jpg"].error == reason
    assert by_name["a.jpg"].status == by_name["c.jpg"].status == "exported"
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.jpg", "c.jpg"]


def test_truncated_file_is_refused_even_if_a_library_allows_truncated_loads():
    """face_recognition sets ImageFile.LOAD_TRUNCATED_IMAGES = True when imported; with it a cut
    JPEG decodes as a picture with a grey bottom. decode_image resets it on every call."""
    data = hc.jpeg(hc.pattern())
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        with pytest.raises(LoadError, match="truncated"):
            decode_image(data[: len(data) * 6 // 10])
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old
