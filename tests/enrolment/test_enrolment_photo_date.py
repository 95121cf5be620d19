"""The date of a reference photo (for staleness): --taken, else EXIF DateTimeOriginal, else the
file's modification time.

The bundled samples/photos/visit.jpg is a real camera file whose EXIF says it was taken on
2010-05-10 and last edited on 2017-03-02 (DateTime): the taken date must win over both the edit
date and the file's own time (the shared data's Nikon file, used before, tested nothing more).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest
from conftest import SAMPLES
from PIL import Image

from safeguard.enrolment import photo_date

pytestmark = pytest.mark.model

MTIME = dt.datetime(2024, 3, 4, 12, 0).timestamp()


def _touched(path, tmp_path):
    """A copy of `path` whose file time is 2024-03-04."""
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    os.utime(copy, (MTIME, MTIME))
    return copy


def test_photo_date_sources(tmp_path):
    exif = _touched(SAMPLES / "photos" / "visit.jpg", tmp_path)
    assert photo_date(exif) == dt.date(2010, 5, 10)  # DateTimeOriginal, not DateTime or mtime
    assert photo_date(exif, dt.date(2025, 1, 2)) == dt.date(2025, 1, 2)
    # a PNG carries no EXIF: the file's modification time
    plain = tmp_path / "plain.png"
    with Image.open(SAMPLES / "references" / "ada-1.jpg") as im:
        im.convert("RGBA").save(plain)
    os.utime(plain, (MTIME, MTIME))
    assert photo_date(plain) == dt.date(2024, 3, 4)

