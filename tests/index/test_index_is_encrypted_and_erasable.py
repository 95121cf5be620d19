"""The index is special-category data: encrypted at rest under its own key, no names in it,
erasable (with its key) without touching the consent store."""

from __future__ import annotations

import stat

import numpy as np
import pytest
from support.helpers import run_cli
from support.index_support import home_copy, indexed_template

from safeguard.home import Home
from safeguard.index import PhotoIndex

pytestmark = pytest.mark.model


def _index_bytes(home_root) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((home_root / "index").iterdir()) if p.is_file())


def test_index_holds_no_names_paths_or_plaintext_encodings(tmp_path_factory,
                                                           reference_encodings):
    home, archive = indexed_template(tmp_path_factory, reference_encodings)
    raw = _index_bytes(home)
    assert len(raw) > 5 * 128 * 4  # the encodings are in there, sealed
    # (whole names: three bytes such as b"Ada" turn up by chance in kilobytes of ciphertext)
    for word in (b"Ada Example", b"Ben Example", b"Example", b"P001", b"P002", b"assembly",
                 b"visit", str(archive).encode()):
        assert word not in raw, word
    snap = PhotoIndex(Home(home)).load()
    assert snap.faces == 5
    rows = list(snap.encodings) + [np.asarray(e, np.float32) for v in reference_encodings.values()
                                   for e in v]
    for row in rows:
        for dtype in ("<f4", "<f8"):
            assert row.astype(dtype).tobytes()[:32] not in raw
    for name in ("meta.json", "index.lock"):
        assert stat.S_IMODE((home / "index" / name).stat().st_mode) == 0o600
    for seg in (home / "index").glob("seg-*.bin"):
        assert stat.S_IMODE(seg.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "index").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "keys" / "index.key").stat().st_mode) == 0o600


def test_wrong_or_missing_key_is_a_clear_error(tmp_path, tmp_path_factory, reference_encodings):
    from consent_db.crypto import create_key

    template, _ = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    key = home.keys_dir / "index.key"
    key.unlink()
    r = run_cli("--home", home.root, "find", "--pupil", "P001")
    assert r.exit_code == 1 and "encryption key missing" in r.stderr
    create_key(key)
    r = run_cli("--home", home.root, "find", "--pupil", "P001")
    assert r.exit_code == 1 and "does not open the index" in r.stderr
    assert "Traceback" not in r.output


def test_erase_removes_the_index_and_its_key_and_nothing_else(tmp_path, tmp_path_factory,
                                                              reference_encodings):
    template, archive = indexed_template(tmp_path_factory, reference_encodings)
    home = home_copy(template, tmp_path / "home")
    r = run_cli("--home", home.root, "index", "--erase", "--yes")
    assert r.exit_code == 0 and "Index erased." in r.stdout
    assert not (home.root / "index").exists()
    assert not (home.keys_dir / "index.key").exists()
    assert list(home.root.glob(".index-erasing-*")) == []
    assert (home.keys_dir / "store.key").exists()  # the consent store is untouched
    r = run_cli("--home", home.root, "pupils", "list", "--json")
    assert r.exit_code == 0 and "P001" in r.stdout
    r = run_cli("--home", home.root, "find", "--pupil", "P001")
    assert r.exit_code == 1 and "no published-photo index yet" in r.stderr
    r = run_cli("--home", home.root, "index", "--erase", "--yes")
    assert r.exit_code == 0 and "no index to erase" in r.stdout
    assert list(archive.iterdir())  # the published photos themselves are not touched
