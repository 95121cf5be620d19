"""`safeguard index` reads only new or changed files (path, size, mtime; then content hash), drops
the entries of files that are gone, and never holds a photo twice."""

from __future__ import annotations

import os
import shutil

import pytest
from support.helpers import run_cli
from support.index_support import find_json, index_json, make_archive, names_of

from safeguard.exitcodes import ExitStatus

pytestmark = pytest.mark.model


def test_only_new_or_changed_files_are_encoded(demo_home, tmp_path):
    home = demo_home.root
    archive = make_archive(tmp_path / "archive", ["ben-1.jpg", "phone-rotated-gps.jpg"])

    code, s = index_json(home, str(archive))
    assert code == 0 and s["new"] == 2 and s["encoded"] == 2 and s["faces_added"] == 2

    code, s = index_json(home, str(archive))  # nothing changed: nothing read
    assert (s["unchanged"], s["encoded"], s["new"], s["changed"]) == (2, 0, 0, 0)
    assert s["photos_indexed"] == 2 and s["batches"] == 0

    ben = archive / "ben-1.jpg"
    st = ben.stat()
    os.utime(ben, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched, same content
    code, s = index_json(home, str(archive))
    assert (s["changed"], s["touched"], s["encoded"]) == (1, 1, 0)

    shutil.copyfile(archive / "phone-rotated-gps.jpg", archive / "newsletter-copy.jpg")
    code, s = index_json(home, str(archive))  # same content under a new name: not re-encoded
    assert (s["new"], s["copied"], s["encoded"]) == (1, 1, 0)
    assert s["photos_indexed"] == 3 and s["faces_indexed"] == 3

    with open(ben, "ab") as f:  # really changed content: encoded again
        f.write(b"edited")
    make_archive(archive, ["visit.jpg"])  # and a new photo
    code, s = index_json(home, str(archive))
    assert (s["new"], s["changed"], s["encoded"], s["unchanged"]) == (1, 1, 2, 2)
    assert s["photos_indexed"] == 4 and s["faces_indexed"] == 4

    (archive / "phone-rotated-gps.jpg").unlink()
    code, s = index_json(home, str(archive))
    assert s["removed"] == 1 and s["encoded"] == 0 and s["photos_indexed"] == 3

    ada = find_json(home, "P001")
    assert names_of(ada) == {"newsletter-copy.jpg", "visit.jpg"}
    assert names_of(find_json(home, "P002")) == {"ben-1.jpg"}


def test_unreadable_file_is_kept_as_unscanned_and_not_retried(demo_home, tmp_path):
    home = demo_home.root
    archive = make_archive(tmp_path / "archive", ["ben-1.jpg"])
    (archive / "broken.jpg").write_bytes((archive / "ben-1.jpg").read_bytes()[:300])
    code, s = index_json(home, str(archive))
    assert code == ExitStatus.UNSCANNED  # listed, and kept as unscanned
    assert s["errors"] == 1 and s["error_files"][0]["path"].endswith("broken.jpg")
    ben = find_json(home, "P002")
    # fail closed: the DSL is told that a pupil may be in a file that could not be scanned
    assert [u["path"].rsplit("/", 1)[1] for u in ben["unscanned"]] == ["broken.jpg"]
    code, s = index_json(home, str(archive))
    assert code == 0 and s["unchanged"] == 2 and s["encoded"] == 0


def test_archive_that_looks_unmounted_keeps_its_entries(demo_home, tmp_path):
    home = demo_home.root
    archive = make_archive(tmp_path / "archive", ["ben-1.jpg"])
    index_json(home, str(archive))
    (archive / "ben-1.jpg").unlink()  # the folder is now empty, like an unmounted share
    r = run_cli("--home", home, "index", archive)
    assert r.exit_code == 0 and "is the archive mounted?" in r.stderr
    assert "The index holds 1 photo(s)" in r.stdout
    _code, s = index_json(home, str(archive), "--allow-empty")
    assert s["removed"] == 1 and s["photos_indexed"] == 0

    r = run_cli("--home", home, "index", tmp_path / "nowhere")
    assert r.exit_code == 1 and "no such file or folder" in r.stderr


def test_archives_are_independent(demo_home, tmp_path):
    """Indexing one archive never removes the entries of another."""
    home = demo_home.root
    a = make_archive(tmp_path / "a", ["ben-1.jpg"])
    b = make_archive(tmp_path / "b", ["ben-1.jpg"])
    index_json(home, str(a))
    _code, s = index_json(home, str(b))
    assert s["copied"] == 1 and s["removed"] == 0 and s["photos_indexed"] == 2
