"""The date of a reference photo (for staleness): --taken, else EXIF DateTimeOriginal, else the
file's modification time."""

import datetime as dt
import os
import shutil

import pytest
from support.store_fixtures import TESTDATA

from safeguard.enrolment import photo_date


def test_photo_date_sources(tmp_path):
    exif = TESTDATA / "metadata" / "ex__DSCN0010.jpg"
    if not exif.exists():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    assert photo_date(exif) == dt.date(2008, 10, 22)
    assert photo_date(exif, dt.date(2025, 1, 2)) == dt.date(2025, 1, 2)
    plain = tmp_path / "plain.png"
    shutil.copy(TESTDATA / "identities" / "obama" / "fr__32bit.png", plain)
    t = dt.datetime(2024, 3, 4, 12, 0).timestamp()
    os.utime(plain, (t, t))
    assert photo_date(plain) == dt.date(2024, 3, 4)
