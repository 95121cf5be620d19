"""An insider with write access to the home but not the key builds store.json by hand, in plain
JSON, with a DSL account whose argon2 hash they chose (and a generation past the sealed record),
then signs in with it. The store must refuse any file that is not sealed with its key, say so,
exit 1, and leave the file as it was rather than seal it over."""

import json

from argon2 import PasswordHasher
from click.testing import CliRunner
from support.helpers import open_store
from support.store_fixtures import make_home

from consent_db.storage import MAGIC
from safeguard.cli import cli


def test_a_plain_store_with_a_chosen_dsl_account_is_refused(tmp_path):
    home = make_home(tmp_path)
    store = open_store(home)
    store.add_pupil("P001", "Ada Example", consents={"social": True}, actor="test-setup")
    data = store._storage.read()  # what the insider is assumed to know of the layout
    data["meta"]["1"]["generation"] = 10**9
    data["staff"][str(len(data["staff"]) + 1)] = {
        "user": "mallory", "role": "dsl", "academy": None, "failures": 0, "locked_until": None,
        "hash": PasswordHasher().hash("mallory's own password"), "created": "2026-01-01T00:00:00",
    }
    path = home.store_dir / "store.json"
    path.write_text(json.dumps(data))
    before = path.read_bytes()

    r = CliRunner().invoke(cli, ["--home", str(home.root), "audit", "list"],
                           env={"SAFEGUARD_USER": "mallory",
                                "SAFEGUARD_PASSWORD": "mallory's own password"})

    assert r.exit_code == 1, r.output
    assert "not sealed" in r.output and "P001" not in r.output
    assert path.read_bytes() == before and not before.startswith(MAGIC)


def test_an_encoding_shard_not_sealed_with_the_key_is_refused_clearly(tmp_path):
    import datetime as dt

    import pytest
    from support.store_fixtures import vec

    from consent_db import StoreError
    from consent_db.vault import shard_of

    store = open_store(make_home(tmp_path))
    store.add_pupil("P001", "Ada Example", biometric_consent=True, actor="test-setup")
    store.enrol("P001", [vec(1)], [dt.date(2025, 1, 1)])
    shard = store.folder / "encodings" / f"{shard_of('P001')}.bin"
    shard.write_bytes(b"SGE1" + bytes(600))  # a shard built without the key
    before = shard.read_bytes()
    with pytest.raises(StoreError, match="not sealed"):
        store.enrol("P001", [vec(2)], [dt.date(2025, 1, 2)])
    with pytest.raises(StoreError, match="not sealed"):
        store.match_matrix("social")
    assert shard.read_bytes() == before
