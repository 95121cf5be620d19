"""The fast loop stays fast because a test that runs a face or OCR model without declaring the
`model` marker fails, and says which marker to declare (tests/support/model_guard.py). This test
is itself fast: its body is watched, so each refusal it provokes is taken back before it ends."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from support import model_guard


@pytest.fixture
def identity_model() -> bytes:
    """The smallest ONNX model there is: y = x."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


@pytest.fixture
def made_in_a_fixture(identity_model):
    """A session made before the test's body runs, as the session's reference encodings are."""
    import onnxruntime as ort

    return ort.InferenceSession(identity_model, providers=["CPUExecutionProvider"])


def test_the_test_is_fast():
    assert model_guard._armed, "this module must run as a fast test for the rest to mean anything"


def test_making_a_model_session_in_a_fast_test_fails_naming_the_marker(identity_model):
    import onnxruntime as ort

    with pytest.raises(pytest.fail.Exception, match=r"pytestmark = pytest\.mark\.model"):
        ort.InferenceSession(identity_model, providers=["CPUExecutionProvider"])
    model_guard.caught.clear()


def test_running_a_session_made_by_a_fixture_fails_too(made_in_a_fixture):
    with pytest.raises(pytest.fail.Exception, match="ran a face or OCR model"):
        made_in_a_fixture.run(None, {"x": np.zeros(1, np.float32)})
    model_guard.caught.clear()


def test_a_refusal_the_code_swallows_still_fails_the_test(identity_model):
    import onnxruntime as ort

    with contextlib.suppress(BaseException):  # as a careless `except BaseException` would
        ort.InferenceSession(identity_model, providers=["CPUExecutionProvider"])
    guard = model_guard.armed("this test")
    with pytest.raises(pytest.fail.Exception, match="ran a face or OCR model"):
        guard.__exit__(None, None, None)
    model_guard.caught.clear()
