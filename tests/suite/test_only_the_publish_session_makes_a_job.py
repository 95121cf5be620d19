"""Every way to publish (scan, blur, the service, the watcher, `report`, the demo) reaches the
pipeline through the publish session (safeguard/publish.py): it is the only place in the product
that makes a pipeline Job, so the choices, checks and approval post cannot differ by door."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "safeguard"


def test_the_only_job_made_in_the_product_is_the_publish_sessions():
    makers = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name == "Job":
                    makers.append(str(path.relative_to(ROOT)))
    assert makers == ["publish.py"]
