"""Files the package ships beside its code: the benchmark report the DPIA pack quotes, the
sample photos the demo runs on, and the Jinja2 templates of its documents (`templates()`).

In a wheel they are package data (`safeguard/_shipped/`, copied there from the repository by
pyproject.toml's force-include), so an installed safeguard never reads outside itself. In a
source checkout (an editable install) the repository's own files are used, so a benchmark rerun
is seen at once.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = {"REPORT.md": "benchmarks/REPORT.md", "samples": "samples"}


def path(name: str) -> Path:
    """Where the shipped file or folder `name` (a key of SOURCES) is."""
    packaged = resources.files("safeguard") / "_shipped" / name
    if packaged.is_file() or packaged.is_dir():
        return Path(str(packaged))
    return REPO / SOURCES[name]


@functools.cache
def templates():
    """The Jinja2 environment of safeguard/templates/ (the DPIA pack, the index's contact sheet):
    HTML autoescaped, undefined names an error, trailing newlines kept."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(loader=PackageLoader("safeguard", "templates"),
                       autoescape=select_autoescape(["html", "html.j2"]), undefined=StrictUndefined,
                       keep_trailing_newline=True)
