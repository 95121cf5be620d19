"""Rich markup in a file name ("[/bold].jpg") crashed the summary table after the
outputs were written. Names and reasons are printed as text."""

import shutil

import pytest
from conftest import SAMPLES
from support.helpers import run_cli_env

pytestmark = pytest.mark.model  # the blur runs the face detector


def test_a_name_full_of_markup_is_printed_as_it_is(demo_home, tmp_path):
    batch = tmp_path / "batch"
    (batch / "[").mkdir(parents=True)  # the path batch/[/bold].jpg holds "[/bold]"
    for name in ("[/bold].jpg", "[red]trip.jpg", "[bold red on white]x.jpg"):
        shutil.copy(SAMPLES / "photos" / "visit.jpg", batch / name)
    r = run_cli_env({"COLUMNS": "250"}, "--home", demo_home.root, "blur", batch, "--out",
                    tmp_path / "out", "--jobs", "1")
    assert r.exit_code == 0, r.output
    for name in ("[/bold].jpg", "[red]trip.jpg", "[bold red on white]x.jpg"):
        assert name in r.stdout, name
    assert "3 photos: 3 exported" in r.stdout
