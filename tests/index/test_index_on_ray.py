"""`safeguard index --ray local` encodes on a local Ray instance (ray.util.ActorPool of actors)
and indexes exactly what the local process pool does.

Ray is an optional extra (`uv sync --all-extras`); without it this test is skipped, visibly.
Starting a local Ray instance takes 20-30 s on a busy 2-core machine, so the archive is tiny."""

from __future__ import annotations

import numpy as np
import pytest
from support.index_support import find_json, index_json, indexed_template, make_archive, names_of

from safeguard.home import Home
from safeguard.index import PhotoIndex

pytestmark = [pytest.mark.model, pytest.mark.ray]

pytest.importorskip("ray", reason="ray is not installed (optional extra: uv sync --extra ray)")


@pytest.mark.timeout(300)
def test_ray_backend_indexes_the_same_faces_as_the_local_pool(demo_home, tmp_path,
                                                              tmp_path_factory,
                                                              reference_encodings):
    archive = make_archive(tmp_path / "archive", ["ben-1.jpg", "phone-rotated-gps.jpg"])
    code, s = index_json(demo_home.root, str(archive), "--ray", "local", "--jobs", "2")
    assert code == 0, s
    assert s["backend"] == "ray" and s["workers"] == 2
    assert s["encoded"] == 2 and s["photos_indexed"] == 2 and s["faces_indexed"] == 2
    assert names_of(find_json(demo_home.root, "P001")) == {"phone-rotated-gps.jpg"}
    assert names_of(find_json(demo_home.root, "P002")) == {"ben-1.jpg"}

    # the same files indexed by the local process pool (the session's template index)
    template, _ = indexed_template(tmp_path_factory, reference_encodings)
    local = PhotoIndex(Home(template)).load()
    ray_ = PhotoIndex(demo_home).load()
    for i, sha in enumerate(ray_.sha256):
        j = local.sha256.index(sha)
        a, b = ray_.result(i), local.result(j)
        assert np.array_equal(a.boxes, b.boxes)
        assert np.allclose(a.encodings, b.encodings, atol=1e-5)
