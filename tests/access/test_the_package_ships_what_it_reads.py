"""The package reads no file outside itself once installed: what the DPIA pack and the
demo read at run time (the benchmark report, the sample photos) is force-included into the wheel
under safeguard/_shipped/, and safeguard.shipped finds it there before the repository's copy."""

from __future__ import annotations

import tomllib
from pathlib import Path

from safeguard import shipped

REPO = Path(__file__).resolve().parents[2]


def test_every_shipped_file_is_force_included_into_the_wheel():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    included = cfg["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    for name, source in shipped.SOURCES.items():
        assert included.get(source) == f"safeguard/_shipped/{name}"
        assert (REPO / source).exists()


def test_the_packaged_copy_wins_over_the_repository(tmp_path, monkeypatch):
    from importlib import resources

    fake = tmp_path / "safeguard"
    (fake / "_shipped").mkdir(parents=True)
    (fake / "_shipped" / "REPORT.md").write_text("packaged")
    monkeypatch.setattr(resources, "files", lambda pkg: fake)
    assert shipped.path("REPORT.md").read_text() == "packaged"
    assert shipped.path("samples") == REPO / "samples"  # not packaged here: the repo's


def test_the_dpia_pages_escape_any_markup_in_what_they_quote(tmp_path):
    from safeguard import dpia
    from safeguard.config import Config
    from safeguard.home import Home

    pack = dpia.gather(Home(tmp_path / "home"), Config())
    pack["warnings"] = ["a setting named <script>alert(1)</script>"]
    page = dpia.to_html(pack)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<table>" in page and "<h1>Data protection impact assessment" in page
