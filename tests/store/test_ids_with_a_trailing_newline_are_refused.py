"""Ids were checked with a pattern ending in `$`, which also accepts a trailing
newline, so "P009\n" was stored as a pupil id and "eve\n" as a staff account; every id is now
checked whole (fullmatch)."""

import pytest
from support.helpers import open_store

from consent_db import StoreError


def test_a_pupil_id_or_user_name_with_a_newline_is_refused(demo_home):
    store = open_store(demo_home)
    with pytest.raises(StoreError):
        store.add_pupil("P009\n", "New Pupil", actor="test-data")
    with pytest.raises(StoreError):
        store.add_staff("eve\n", "dsl", "a long password here", actor="test-admin")
