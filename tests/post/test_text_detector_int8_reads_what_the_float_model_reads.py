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

pytestmark = pytest.mark.model

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


def _small_int8(rng, first: str, second_reader: str = "") -> bytes:
    """A small network quantised as the detector is: Conv 3x3 (`first`: "stride 1" or
    "stride 2", padded by 1) -> Relu -> Conv 1x1 -> Sigmoid, with a second reader of the input
    added to the first convolution: the same convolution again ("conv"), a 1x1 convolution of
    the same stride ("conv 1x1"), or a mean over the channels ("mean")."""
    import onnxruntime as ort  # noqa: F401 - the quantiser needs it
    from onnx import TensorProto, helper, numpy_helper

    stride = 2 if first == "stride 2" else 1
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n) for n, s in
             [("w1", (8, 3, 3, 3)), ("b1", (8,)), ("w2", (1, 8, 1, 1)), ("w3", (8, 3, 3, 3)),
              ("w4", (8, 3, 1, 1))]]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1],
                              strides=[stride, stride])]
    if second_reader:
        nodes += [{"conv": helper.make_node("Conv", ["x", "w3"], ["c3"], pads=[1, 1, 1, 1],
                                            strides=[stride, stride]),
                   "conv 1x1": helper.make_node("Conv", ["x", "w4"], ["c3"],
                                                strides=[stride, stride]),
                   "mean": helper.make_node("ReduceMean", ["x"], ["c3"], axes=[1], keepdims=1),
                   }[second_reader],
                  helper.make_node("Add", ["c1", "c3"], ["c4"]),
                  helper.make_node("Relu", ["c4"], ["r1"])]
    else:
        nodes.append(helper.make_node("Relu", ["c1"], ["r1"]))
    nodes += [helper.make_node("Conv", ["r1", "w2"], ["c2"]),
              helper.make_node("Sigmoid", ["c2"], ["y"])]
    used = {i for n in nodes for i in n.input}
    graph = helper.make_graph(
        nodes, "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "hy", "wy"])],
        [i for i in inits if i.name in used])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    pictures = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(4)]
    return quantised.quantise(model.SerializeToString(),
                              [{"x": text_detector.model_input(p)} for p in pictures])


@pytest.mark.parametrize("first,second_reader,takes", [
    ("stride 1", "", ("NHWC", True, 1)),
    ("stride 1", "conv", ("NHWC", True, 1)),
    ("stride 1", "mean", ("NCHW", False, 1)),
    ("stride 2", "", ("NHWC", True, 2)),
    ("stride 2", "conv", ("NHWC", True, 2)),
    ("stride 2", "conv 1x1", ("NHWC", True, 1)),
])
def test_an_int8_model_fed_pixels_computes_what_it_computed_from_floats(first, second_reader,
                                                                       takes):
    """The cached detector takes its input as an image holds it: quantised already (one table
    lookup, quantised.quantised_input), channels last and in RGB order (the order folded into
    the weights of the convolutions that read it, quantised.channels_last_input), and where
    those are 3x3 of stride 2, as 2x2 blocks of pixels (their weights moved to the place each
    pixel has in its block, quantised.paired_input). On a small network quantised the same way,
    the output must be the same to the bit, for every image size. Where the input goes into
    anything but convolutions it stays channels first, and into other convolutions unpaired:
    still the same to the bit."""
    import onnxruntime as ort

    rng = np.random.default_rng(3)
    int8 = _small_int8(rng, first, second_reader)
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    floats_in = text_detector.Detector(ort.InferenceSession(int8, opts))
    pixels_in = text_detector.Detector(
        ort.InferenceSession(quantised.quantised_input(int8), opts))
    as_held = text_detector.Detector(ort.InferenceSession(text_detector.RECIPE.finish(int8),
                                                          opts))
    assert floats_in.table is None and pixels_in.table is not None
    assert (pixels_in.layout, pixels_in.block) == ("NCHW", 1)
    assert (as_held.layout, as_held.rgb, as_held.block) == takes
    assert as_held.pixels(np.zeros((40, 40, 3), np.uint8)).dtype == np.uint8
    for shape in [(50, 70, 3), (64, 96, 3), (33, 31, 3)]:
        p = rng.integers(0, 256, shape, dtype=np.uint8)
        p[:5] = [255, 0, 0]  # pure red: swapped channels would show
        whole = floats_in.map(p)
        assert whole.shape[:2] == (1, 1) and whole.size > 100
        assert np.array_equal(whole, pixels_in.map(p))
        assert np.array_equal(whole, as_held.map(p))


def test_the_real_detector_maps_a_photo_to_the_bit_however_it_is_fed(fresh_sessions):
    """The detector as cached (pixels, channels last, RGB, 2x2 blocks) against the same int8
    model fed floats channels first, as quantised before those steps: the same map."""
    import onnxruntime as ort

    recipe = text_detector.RECIPE
    int8 = quantised.quantise(recipe.prepare(recipe.source()), recipe.calibration())
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    as_made = text_detector.Detector(ort.InferenceSession(int8, opts))
    as_cached = text_detector.Detector(ort.InferenceSession(recipe.finish(int8), opts))
    assert as_made.table is None
    assert (as_cached.layout, as_cached.rgb, as_cached.block) == ("NHWC", True, 2)
    assert as_cached.pixels(np.zeros((100, 200, 3), np.uint8)).shape == (1, 64, 112, 12)
    for size in [(1792, 1344), (1000, 750)]:
        small = np.asarray(Image.fromarray(_photo()).resize(size))
        mapped = as_cached.map(small)
        assert (mapped > 0.3).sum() > 1000  # the signs are there to be found
        assert np.array_equal(mapped, as_made.map(small))
    cached = text_detector.session()
    assert (cached.layout, cached.rgb, cached.block) == ("NHWC", True, 2)
