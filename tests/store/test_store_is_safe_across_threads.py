"""One store object shared by a thread pool (as the review app does) loses nothing and never
lets one thread see another's uncommitted transaction."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from support.store_fixtures import make_store


def test_store_is_safe_across_threads(tmp_path):
    store = make_store(tmp_path)

    def add(w):
        for i in range(40):
            store.add_pupil(f"T{w}-{i:02d}", f"Thread {w} pupil {i}")
            assert store.get_pupil(f"T{w}-{i:02d}") is not None

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(add, range(4)))
    assert len(store.pupils()) == 160
    assert store.audit.verify().entries == 160


@pytest.mark.slow  # a race: many commits under readers to catch it
def test_readers_never_take_a_commit_in_progress_for_a_rollback(tmp_path):
    # Readers take no lock; a commit writes store.json and then its generation record. A reader
    # that read them the other way round saw an older file than the record and refused the store
    # as "put back from an old copy" (found by the test above, once in many CI runs).
    import threading

    store = make_store(tmp_path)
    store.add_pupil("R-00", "Reader pupil")
    done = threading.Event()
    errors = []

    def read():
        while not done.is_set():
            try:
                assert store.get_pupil("R-00") is not None
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(e)
                return

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for i in range(100):
            store.add_pupil(f"W-{i:03d}", f"Writer pupil {i}")
    finally:
        done.set()
        for t in readers:
            t.join()
    assert not errors, errors[0]
