"""`audit verify` accepted a log cut short with its head file rewritten, and a deleted
entry with the plain SHA-256 chain recomputed after it. The chain is now keyed (HMAC under a key
derived from the store's key), the head is sealed with it, the store records from which entry the
log is keyed, and an unreadable head is a failure."""

import hashlib
import json

import pytest
from support.store_fixtures import make_store

from consent_db.audit import GENESIS, _canonical


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    for i in range(6):
        s.add_pupil(f"P{i}", f"Pupil {i}", consents={"social": True}, actor="office")
    assert s.audit.verify().ok
    return s


def _entries(store):
    return [json.loads(line) for line in store.audit.path.read_text().splitlines()]


def _plain(entries):
    """The chain an attacker without the key can compute: plain SHA-256, no key version."""
    prev, out = GENESIS, []
    for i, e in enumerate(entries, 1):
        e = {k: v for k, v in e.items() if k not in ("hash", "v")}
        e["seq"], e["prev"] = i, prev
        e["hash"] = prev = hashlib.sha256(_canonical(e)).hexdigest()
        out.append(e)
    return out


def _write(store, entries, head=True):
    store.audit.path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    if head:
        last = entries[-1]
        store.audit.head_path.write_bytes(_canonical({"seq": last["seq"], "hash": last["hash"]}))


def test_entries_are_keyed(store):
    es = _entries(store)
    assert all(e["v"] == 4 for e in es)  # keyed; action, details and subject sealed
    # not the plain hash anyone could recompute
    assert es[0]["hash"] != _plain(es[:1])[0]["hash"]


def test_a_log_cut_short_with_its_head_rewritten_fails(store):
    _write(store, _entries(store)[:-2])
    r = store.audit.verify()
    assert not r.ok and any("head" in p for p in r.problems), r.problems


def test_a_deleted_entry_with_the_plain_chain_recomputed_fails(store):
    es = _entries(store)
    _write(store, _plain(es[:2] + es[3:]))
    r = store.audit.verify()
    assert not r.ok and any("not keyed" in p for p in r.problems), r.problems


def test_an_unreadable_head_fails(store):
    store.audit.head_path.write_bytes(b"\x00garbage")
    r = store.audit.verify()
    assert not r.ok and any("cannot be read" in p for p in r.problems), r.problems


def test_a_head_sealed_under_another_key_fails(store, tmp_path):
    other = make_store(tmp_path / "other")
    other.add_pupil("X1", "Someone", actor="office")
    store.audit.head_path.write_bytes(other.audit.head_path.read_bytes())
    assert not store.audit.verify().ok
