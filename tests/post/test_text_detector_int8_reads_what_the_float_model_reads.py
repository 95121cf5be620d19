"""The text detector runs as 8-bit integers (safeguard.text_detector): quantised once per machine
from the float model rapidocr ships, kept in a per-user cache. It must find what the float model
finds, and where it cannot be had (no cache, a damaged cache file) the float model runs instead:
slower, never blind."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from support.synthetic import photo_with_signs

from safeguard import quantised, text, text_detector

# (text, x, y, capital height px) on a 4000x3000 copy of a sample photo
SIGNS = [("Ada Example", 300, 2500, 20), ("Year 4 Oak", 2300, 300, 64),
         ("Sports Day", 1500, 1800, 28), ("Class 6B", 3100, 2650, 40)]


def _photo() -> np.ndarray:
    return photo_with_signs("visit.jpg", SIGNS)


def _read(rgb) -> set[str]:
    return {" ".join(r.text.split()) for r in text.read_text(rgb)}


@pytest.fixture
def fresh_sessions(monkeypatch):
    monkeypatch.setattr(text_detector, "_sessions", {})


def test_the_int8_detector_finds_every_sign_the_float_one_finds(fresh_sessions, monkeypatch):
    rgb = _photo()
    assert text_detector.session() is not None, "the int8 detector could not be made here"
    int8 = _read(rgb)
    monkeypatch.setattr(text_detector, "_sessions", {})
    monkeypatch.setenv("SAFEGUARD_TEXT_INT8", "0")
    assert text_detector.session() is None
    float_ = _read(rgb)
    wanted = {words for words, *_ in SIGNS}
    assert wanted <= float_, float_
    assert wanted <= int8, int8


def test_a_damaged_cached_model_falls_back_to_the_float_one(fresh_sessions, monkeypatch,
                                                            tmp_path):
    monkeypatch.setenv("SAFEGUARD_CACHE", str(tmp_path))
    recipe = text_detector.RECIPE
    quantised.cached_path(recipe, recipe.source()).write_bytes(b"not a model")
    assert text_detector.session() is None
    assert "Ada Example" in _read(_photo())


def test_no_writable_cache_falls_back_to_the_float_one(fresh_sessions, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SAFEGUARD_CACHE", str(blocker / "cache"))
    assert text_detector.quantised_model() is None
    assert text_detector.session() is None
    assert "Year 4 Oak" in _read(_photo())


@pytest.mark.parametrize("loose", ["folder", "model"])
def test_a_cache_others_could_write_is_not_used(fresh_sessions, monkeypatch, tmp_path, loose):
    """A model swapped by another account for one that finds no text would let names through:
    a cache folder or model file writable by others is refused, and the float model runs."""
    import os

    monkeypatch.setenv("SAFEGUARD_CACHE", str(tmp_path / "cache"))
    made = text_detector.quantised_model()
    assert made is not None
    os.chmod(made.parent if loose == "folder" else made, 0o777 if loose == "folder" else 0o666)
    assert text_detector.quantised_model() is None
    assert text_detector.session() is None
    assert "Year 4 Oak" in _read(_photo())


def test_the_simplified_float_model_computes_the_same_map_as_the_shipped_one():
    """What is quantised is the shipped model with exact folds (quantised.simplify): fewer nodes
    that onnxruntime cannot run as integers, the same probability for every pixel."""
    import onnx
    import onnxruntime as ort

    shipped_model = text_detector._source_model().read_bytes()
    simple = quantised.simplify(shipped_model)
    ops = [n.op_type for n in onnx.load_from_string(simple).graph.node]
    before = [n.op_type for n in onnx.load_from_string(shipped_model).graph.node]
    assert before.count("Div") > 0 and ops.count("Div") == 0
    assert ops.count("BatchNormalization") < before.count("BatchNormalization")
    # the learnt scale and shift after each convolution and each hard-swish's scale are folded
    assert ops.count("Mul") <= before.count("Mul") - 2 * before.count("Clip")
    assert ops.count("Add") < before.count("Add")
    x = text_detector.model_input(np.asarray(Image.fromarray(_photo()).resize((1280, 960))))
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    maps = [ort.InferenceSession(m, opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            for m in (shipped_model, simple)]
    assert np.abs(maps[0] - maps[1]).max() < 1e-3
    assert (maps[0] > 0.3).sum() > 1000  # the photo's signs are there to be found


def test_making_a_new_model_removes_the_recipes_older_ones_and_nothing_else(fresh_sessions,
                                                                           monkeypatch, tmp_path):
    """A model made by an earlier version (another hash) is not used again: it goes when the new
    one is made. Other recipes' models and other files stay."""
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("SAFEGUARD_CACHE", str(cache))
    older = cache / "text-det-int8-0123456789abcdef.onnx"
    other = cache / "face-det-int8-0123456789abcdef.onnx"
    notes = cache / "text-det-int8-notes.txt"
    for f in (older, other, notes):
        f.write_bytes(b"old")
    made = text_detector.quantised_model()
    assert made is not None and made.is_file()
    assert not older.exists()
    assert other.exists() and notes.exists()
    assert sorted(p.name for p in cache.glob("*.onnx")) == sorted([made.name, other.name])


def _small_model(pads: int):
    """x -> Mul(2) -> Add(0.5) -> Conv 3x3 (pads) -> Mul(3) -> Add(-1) -> Conv 1x1 -> y."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    w2 = rng.normal(size=(2, 4, 1, 1)).astype(np.float32)
    inits = [numpy_helper.from_array(v, n) for n, v in [
        ("two", np.array([2.0], np.float32)), ("half", np.array([0.5], np.float32)),
        ("three", np.array([3.0], np.float32)), ("minus", np.array([-1.0], np.float32)),
        ("w1", w1), ("b1", rng.normal(size=4).astype(np.float32)), ("w2", w2)]]
    nodes = [helper.make_node("Mul", ["x", "two"], ["a"]),
             helper.make_node("Add", ["a", "half"], ["b"]),
             helper.make_node("Conv", ["b", "w1", "b1"], ["c"], pads=[pads] * 4),
             helper.make_node("Mul", ["c", "three"], ["d"]),
             helper.make_node("Add", ["d", "minus"], ["e"]),
             helper.make_node("Conv", ["e", "w2"], ["y"])]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 9, 9])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 9 - 2 + 2 * pads, 9 - 2 + 2 * pads])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


@pytest.mark.parametrize("pads", [0, 1])
def test_scalar_folds_into_convolutions_keep_every_output_pixel(pads):
    """A shift before a padded convolution cannot go into it (the padding would see 0 where the
    shifted input had the shift): it stays, and every pixel, border included, is unchanged."""
    import onnx
    import onnxruntime as ort

    source = _small_model(pads)
    simple = quantised.simplify(source)
    ops = [n.op_type for n in onnx.load_from_string(simple).graph.node]
    assert ops.count("Conv") == 2
    assert ops.count("Add") == (1 if pads else 0)
    x = np.random.default_rng(1).normal(size=(1, 3, 9, 9)).astype(np.float32)
    ys = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
          for m in (source, simple)]
    assert np.abs(ys[0] - ys[1]).max() < 1e-4 * np.abs(ys[0]).max()


def _hard_swish_model(scale_is_output: bool):
    """x -> Conv -> hard-swish (x * Clip(x + 3, 0, 6)) -> Mul(0.3) -> [Conv 1x1] -> y."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(v, n) for n, v in [
        ("w", rng.normal(size=(4, 3, 3, 3)).astype(np.float32)),
        ("b", rng.normal(size=4).astype(np.float32)),
        ("three", np.array(3.0, np.float32)), ("zero", np.array(0.0, np.float32)),
        ("six", np.array(6.0, np.float32)), ("k", np.array([0.3], np.float32)),
        ("w2", rng.normal(size=(2, 4, 1, 1)).astype(np.float32))]]
    last = "y" if scale_is_output else "s"
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "three"], ["a"]),
             helper.make_node("Clip", ["a", "zero", "six"], ["r"]),
             helper.make_node("Mul", ["c", "r"], ["h"]),
             helper.make_node("Mul", ["h", "k"], [last])]
    if not scale_is_output:
        nodes.append(helper.make_node("Conv", ["s", "w2"], ["y"]))
    graph = helper.make_graph(
        nodes, "hswish", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       [1, 4 if scale_is_output else 2, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


@pytest.mark.parametrize("scale_is_output", [False, True])
def test_a_hard_swish_scale_moves_into_its_convolution_only_when_nothing_else_sees_it(
        scale_is_output):
    """The scale k after a hard-swish goes into the convolution before it (weights times
    sqrt(k)), unless the scaled value is the model's output: the output is the same either way."""
    import onnx
    import onnxruntime as ort

    source = _hard_swish_model(scale_is_output)
    simple = quantised.simplify(source)
    muls = [n.op_type for n in onnx.load_from_string(simple).graph.node].count("Mul")
    assert muls == (2 if scale_is_output else 1)
    x = np.random.default_rng(3).normal(size=(1, 3, 8, 8)).astype(np.float32)
    ys = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
          for m in (source, simple)]
    assert np.abs(ys[0] - ys[1]).max() < 1e-4 * np.abs(ys[0]).max()


def test_an_int8_model_fed_quantised_pixels_computes_what_it_computed_from_floats():
    """The cached detector takes its input already quantised (quantised.quantised_input): the
    pixels go through one table lookup instead of a float image the model quantised again. On a
    small network quantised the same way, the output must be the same to the bit."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n) for n, s in
             [("w1", (8, 3, 3, 3)), ("b1", (8,)), ("w2", (1, 8, 1, 1))]]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c1"], ["r1"]),
         helper.make_node("Conv", ["r1", "w2"], ["c2"]),
         helper.make_node("Sigmoid", ["c2"], ["y"])], "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    pictures = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(4)]
    int8 = quantised.quantise(model.SerializeToString(),
                              [{"x": text_detector.model_input(p)} for p in pictures])
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    floats_in = text_detector.Detector(ort.InferenceSession(int8, opts))
    pixels_in = text_detector.Detector(
        ort.InferenceSession(quantised.quantised_input(int8), opts))
    assert floats_in.table is None and pixels_in.table is not None
    assert pixels_in.pixels(pictures[0]).dtype == np.uint8
    for p in [rng.integers(0, 256, (50, 70, 3), dtype=np.uint8), *pictures[:2]]:
        assert np.array_equal(floats_in.map(p), pixels_in.map(p))
    assert text_detector.session().table is not None  # the cached detector takes pixels
