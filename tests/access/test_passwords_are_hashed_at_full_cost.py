"""Staff passwords are stored as argon2id hashes at argon2-cffi's default cost (the tests' own
accounts use a light one, tests/conftest.py); a weaker stored hash is replaced at the next
sign-in."""

from argon2 import PasswordHasher, extract_parameters
from conftest import PRODUCTION_HASHER

import consent_db.staff
from consent_db.staff import StaffAccounts
from safeguard.home import Home


def test_the_product_hashes_at_the_library_defaults(monkeypatch, tmp_path):
    from support.helpers import open_store

    defaults = PasswordHasher()
    assert PRODUCTION_HASHER.time_cost == defaults.time_cost >= 3
    assert PRODUCTION_HASHER.memory_cost == defaults.memory_cost >= 64 * 1024
    monkeypatch.setattr(consent_db.staff, "_ph", PRODUCTION_HASHER)
    store = open_store(Home(tmp_path / "home").ensure())
    store.add_staff("new-dsl", "dsl", "a long test passphrase", actor="test")
    stored = store._staff.get(consent_db.staff.S.user == "new-dsl")["hash"]
    params = extract_parameters(stored)
    assert stored.startswith("$argon2id$")
    assert (params.time_cost, params.memory_cost) == (defaults.time_cost, defaults.memory_cost)
    assert isinstance(store.staff, StaffAccounts)


def test_a_weaker_stored_hash_is_replaced_at_the_next_sign_in(monkeypatch, tmp_path):
    from support.helpers import open_store

    store = open_store(Home(tmp_path / "home").ensure())
    store.add_staff("old-dsl", "dsl", "a long test passphrase", actor="test")  # light cost
    weak = store._staff.get(consent_db.staff.S.user == "old-dsl")["hash"]
    assert extract_parameters(weak).memory_cost < PRODUCTION_HASHER.memory_cost
    monkeypatch.setattr(consent_db.staff, "_ph", PRODUCTION_HASHER)
    assert store.staff.verify("old-dsl", "a long test passphrase").role == "dsl"
    now = store._staff.get(consent_db.staff.S.user == "old-dsl")["hash"]
    assert extract_parameters(now).memory_cost == PRODUCTION_HASHER.memory_cost
    assert store.staff.verify("old-dsl", "a long test passphrase") is not None
