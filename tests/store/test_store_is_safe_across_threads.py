"""One store object shared by a thread pool (as the review app does) loses nothing and never
lets one thread see another's uncommitted transaction."""

from concurrent.futures import ThreadPoolExecutor

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
