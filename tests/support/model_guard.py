"""A fast test that runs a face or OCR model fails, naming the marker its module should declare.

The fast loop is only fast while nothing in it runs a model, and a test does not say that it does
unless someone remembers to mark it. So every onnxruntime session made or run while a `fast`
test's body runs is refused loudly: the face detector, the encoder and both text detectors all
run on onnxruntime (dlib's landmark model is only ever used on faces the detector found).

Only the test's body is watched, not its fixtures: the fast loop may use the session-scoped
encodings of the reference photos (conftest.reference_encodings), made once for the whole run.
onnxruntime is patched when something first imports it, never imported here, so a run that
needs no model does not pay for it. Models run in another process (a worker pool, a subprocess)
are not seen: only the process running the tests.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

import pytest

ADVICE = ("a test marked fast ran a face or OCR model ({what}): declare "
          "`pytestmark = pytest.mark.model` in its module (or `@pytest.mark.model` on the test), "
          "so the fast loop (-m fast) leaves it out")

_armed: list[str] = []  # the node id of the fast test whose body is running, if any
caught: list[str] = []  # what was refused, for the test's report when the refusal was swallowed


def _refuse(what: str) -> None:
    if _armed:
        message = f"{_armed[0]}: " + ADVICE.format(what=what)
        caught.append(message)
        pytest.fail(message, pytrace=False)  # BaseException: no `except Exception` swallows it


def _guard(ort) -> None:
    """Replace onnxruntime.InferenceSession by a subclass that refuses while a fast test runs."""
    base = ort.InferenceSession
    if getattr(base, "_refused_in_fast_tests", False):
        return

    class InferenceSession(base):
        _refused_in_fast_tests = True

        def __init__(self, *args, **kwargs):
            _refuse("a new onnxruntime session")
            super().__init__(*args, **kwargs)

        def run(self, *args, **kwargs):
            _refuse("an onnxruntime session ran")
            return super().run(*args, **kwargs)

    InferenceSession.__qualname__ = base.__qualname__
    ort.InferenceSession = InferenceSession


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches onnxruntime right after it is first imported (before anyone can take its names)."""

    def find_spec(self, name, path=None, target=None):
        if name != "onnxruntime":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader_exec = spec.loader.exec_module

        def exec_module(module):
            loader_exec(module)
            _guard(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Guard onnxruntime now if it is imported, else when it first is."""
    if "onnxruntime" in sys.modules:
        _guard(sys.modules["onnxruntime"])
    else:
        sys.meta_path.insert(0, _PatchOnImport())


class armed:
    """While a fast test's body runs: every model session made or run is refused."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def __enter__(self):
        _armed.append(self.nodeid)
        caught.clear()

    def __exit__(self, *exc):
        _armed.clear()
        if caught and exc[0] is None:  # refused, but the refusal was swallowed on the way out
            pytest.fail(caught[0], pytrace=False)
        return False
