"""A missing or wrong key, or a store from a newer version, is a clear error, never an empty
store; neither the encodings nor the pupils' names and registers are readable without the key."""

import datetime as dt
import json
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from support.helpers import open_store
from support.store_fixtures import make_home, vec

from consent_db import StoreError
from consent_db.crypto import create_key, load_key
from consent_db.storage import MAGIC, AtomicJSONStorage, store_lock
from safeguard.cli import cli


@pytest.fixture
def home(tmp_path):
    h = make_home(tmp_path)
    s = open_store(h)
    s.add_pupil("P001", "Ada", biometric_consent=True)
    s.enrol("P001", [vec(1)], [dt.date(2025, 1, 1)])
    return h


def test_missing_key_is_a_clear_error(home):
    (home.keys_dir / "store.key").unlink()
    with pytest.raises(StoreError, match="encryption key missing.*restore the key"):
        open_store(home)
    assert not (home.keys_dir / "store.key").exists()  # no new key was made behind our back


def test_wrong_key_is_a_clear_error(home):
    (home.keys_dir / "store.key").unlink()
    create_key(home.keys_dir / "store.key")
    with pytest.raises(StoreError, match="does not open the consent store"):
        open_store(home)


def test_key_file_is_owner_only_and_encodings_are_not_plain(home):
    assert (home.keys_dir / "store.key").stat().st_mode & 0o777 == 0o600
    raw = b"".join(p.read_bytes() for p in (home.store_dir / "encodings").glob("*.bin"))
    assert vec(1).tobytes()[:64] not in raw


def _storage(home) -> AtomicJSONStorage:
    key = load_key(home.keys_dir / "store.key")
    return AtomicJSONStorage(home.store_dir / "store.json", store_lock(home.store_dir), key=key)


def test_newer_schema_is_refused(home):
    storage = _storage(home)
    with storage.transaction() as data:
        data["meta"]["1"]["schema"] = 99
        storage.mark_dirty()
    (home.store_dir / "meta.json").write_text(json.dumps(data["meta"]["1"]))
    with pytest.raises(StoreError, match="newer safeguard"):
        open_store(home)


def test_cli_reports_missing_key_in_one_line(home):
    (home.keys_dir / "store.key").unlink()
    r = CliRunner().invoke(cli, ["--home", str(home.root), "pupils", "list"])
    assert r.exit_code == 1
    assert "encryption key missing" in r.output and "Traceback" not in r.output


def test_names_and_registers_are_not_in_the_store_file(home):
    s = open_store(home)
    s.add_pupil("P002", "Zebedee Quartermaine", registers=["cp"], year="Year 4")
    raw = (home.store_dir / "store.json").read_bytes()
    assert raw.startswith(MAGIC)
    # Short values as plain JSON would hold them, quoted: two random bytes of ciphertext are
    # "cp" once in 65,536, so the bare word would fail now and then for no fault of the store.
    for secret in (b"Zebedee", b"Quartermaine", b'"Ada"', b'"P002"', b'"cp"', b"Year 4"):
        assert secret not in raw
    # an independent reader sees no text either: strings(1) finds no name
    if shutil.which("strings"):
        out = subprocess.run(["strings", str(home.store_dir / "store.json")],
                             capture_output=True, text=True, check=True).stdout
        assert "Zebedee" not in out and '"Ada"' not in out
    # and the store itself still reads it back
    assert open_store(home).get_pupil("P002")["name"] == "Zebedee Quartermaine"


def test_a_plain_store_in_place_of_the_sealed_one_is_refused_and_left_as_it_is(home):
    """Only the key's holder can make a store that is read: a plain JSON file (as an earlier
    safeguard wrote it, or built by hand with an account of someone's choosing) is refused, and
    never sealed over."""
    storage = _storage(home)
    plain = storage.read()
    path = home.store_dir / "store.json"
    path.write_text(json.dumps(plain))
    with pytest.raises(StoreError, match="not sealed"):
        open_store(home).get_pupil("P001")
    assert path.read_bytes().startswith(b"{")


def test_an_altered_store_file_is_a_clear_error_not_an_empty_store(home):
    path = home.store_dir / "store.json"
    raw = bytearray(path.read_bytes())
    raw[len(MAGIC) + 20] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="cannot be decrypted"):
        open_store(home).pupils()


def test_another_key_cannot_read_a_copy_of_the_store(home, tmp_path):
    copy = make_home(tmp_path / "copy")
    shutil.copytree(home.store_dir, copy.store_dir, dirs_exist_ok=True)
    create_key(copy.keys_dir / "store.key")
    with pytest.raises(StoreError, match="does not open the consent store"):
        open_store(copy)
