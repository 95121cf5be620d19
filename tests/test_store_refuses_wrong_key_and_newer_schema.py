"""A missing or wrong key, or a store from a newer version, is a clear error, never an empty
store; encodings are not readable without the key."""

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from store_fixtures import make_home, vec

from consent_db import ConsentStore, StoreError
from consent_db.crypto import create_key
from safeguard.cli import cli


@pytest.fixture
def home(tmp_path):
    h = make_home(tmp_path)
    s = ConsentStore.open(h)
    s.add_pupil("P001", "Ada", biometric_consent=True)
    s.enrol("P001", [vec(1)], [dt.date(2025, 1, 1)])
    return h


def test_missing_key_is_a_clear_error(home):
    (home.keys_dir / "store.key").unlink()
    with pytest.raises(StoreError, match="encryption key missing.*restore the key"):
        ConsentStore.open(home)
    assert not (home.keys_dir / "store.key").exists()  # no new key was made behind our back


def test_wrong_key_is_a_clear_error(home):
    (home.keys_dir / "store.key").unlink()
    create_key(home.keys_dir / "store.key")
    with pytest.raises(StoreError, match="does not open the consent store"):
        ConsentStore.open(home)


def test_key_file_is_owner_only_and_encodings_are_not_plain(home):
    assert (home.keys_dir / "store.key").stat().st_mode & 0o777 == 0o600
    raw = b"".join(p.read_bytes() for p in (home.store_dir / "encodings").glob("*.bin"))
    assert vec(1).tobytes()[:64] not in raw


def test_newer_schema_is_refused(home):
    path = home.store_dir / "store.json"
    data = json.loads(path.read_text())
    data["meta"]["1"]["schema"] = 99
    path.write_text(json.dumps(data))
    (home.store_dir / "meta.json").write_text(json.dumps(data["meta"]["1"]))
    with pytest.raises(StoreError, match="newer safeguard"):
        ConsentStore.open(home)


def test_cli_reports_missing_key_in_one_line(home):
    (home.keys_dir / "store.key").unlink()
    r = CliRunner().invoke(cli, ["--home", str(home.root), "pupils", "list"])
    assert r.exit_code == 1
    assert "encryption key missing" in r.output and "Traceback" not in r.output
