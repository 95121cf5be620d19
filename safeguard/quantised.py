"""Models run as 8-bit integers, quantised once per machine from the float model a package ships.

The text detector (PP-OCR's DB model, from the rapidocr-onnxruntime wheel) runs this way
(safeguard.text_detector): a fully convolutional network that takes about half the CPU time as
8-bit integers (onnxruntime's static quantisation: per-channel weights, QDQ, activation ranges
calibrated on photos). What it finds as int8 is measured against the float model in benchmarks/
and tests/.

The face detector does not, yet: CenterFace quantised the same way took half the CPU time and
found every counted face of the test data, but lost some faces the float model finds (a head in
shadow, one half hidden) and changed behaviours tuned on the float model (docs/benchmarks.md,
"An int8 face detector").

Before quantising, the float model's graph is simplified where that is exact (`simplify`): a
division by a constant folded into the scalar multiplication after it, a batch normalisation
into the transposed convolution before it, and the learnt scalar scales and shifts around
convolutions (and a hard-swish's scale) into the convolutions. onnxruntime quantises neither a
Div nor a BatchNormalization, and each scalar operation was one more pass over a whole feature
map; folded, the text detector's map takes 0.23 CPU-s instead of 0.35 at 1792 x 1344 and is the
same map (within 6e-5 as floats; tests/post/test_text_detector_int8_reads_what_the_float_model_reads.py).

Nothing is downloaded and no derived model is kept in the repository: a quantised copy is made
from the model inside the installed package, calibrated on images made from the sample photos
this package ships, and kept in the per-user model cache (safeguard.model_cache: private,
locked, named by a hash of the model, onnxruntime's version and the recipe). Where no cache can
be written, or quantising fails, the caller runs the float model instead: slower, never
different in kind. Each recipe has an environment switch
(`SAFEGUARD_TEXT_INT8=0`) that always uses the float model.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safeguard import model_cache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """How one float model becomes int8 on this machine."""

    name: str  # the cache file's stem, "face-det-int8"
    env: str  # "0" in this variable: always the float model
    source: Callable[[], bytes]  # the float model, as the package ships it (or made dynamic)
    calibration: Callable[[], list[dict[str, np.ndarray]]]  # model inputs, as the product feeds it
    version: int  # bump when anything that changes the quantised model changes
    minutes: str = "a few seconds"  # how long making it takes, for the log line
    # applied to `source` only when quantising (`simplify`), so that finding the cached model
    # costs no more than hashing the shipped one; a change to it needs a new `version`
    prepare: Callable[[bytes], bytes] | None = None
    # applied to the int8 model before it is cached (`quantised_input`); a change needs a new
    # `version` too
    finish: Callable[[bytes], bytes] | None = None


def _version(recipe: Recipe) -> str:
    import onnxruntime

    return f"{onnxruntime.__version__}/{recipe.name}/{recipe.version}"


def cached_path(recipe: Recipe, source: bytes) -> Path:
    """Where the int8 copy of `source` made by `recipe` is cached (safeguard.model_cache)."""
    return model_cache.cached_path(recipe.name, source, _version(recipe))


def model_path(recipe: Recipe) -> Path | None:
    """The int8 model for this machine, made on first use; None when it cannot be had (switched
    off, no cache, quantising failed)."""
    if os.environ.get(recipe.env, "1") == "0":
        return None
    try:
        def make(source: bytes) -> bytes:
            prepared = recipe.prepare(source) if recipe.prepare else source
            return quantise(prepared, recipe.calibration(), recipe.finish)

        return model_cache.derived(recipe.name, recipe.source(), _version(recipe), make,
                                   recipe.minutes)
    except Exception as e:  # noqa: BLE001 - no cache, or quantising failed: the float model runs
        log.warning("%s unavailable (%s): using the float model", recipe.name, e)
        return None


def simplify(source: bytes) -> bytes:
    """The ONNX model `source` with exact folds (the same function, to float rounding), each
    where it applies, in this order:

    - `Div(x, c)` whose only user is `Mul(x, w)`, c and w scalar constants: `Mul(x, w / c)`
      (PP-OCR's hard-swish divides by 6 and then scales by a learnt w);
    - `ConvTranspose` (no bias) then `Add(bias)` then `BatchNormalization`: one ConvTranspose
      with its weights scaled and a bias (as onnxruntime folds Conv + BatchNormalization);
    - scalar `Mul` and `Add` straight after a Conv, or straight before one (PP-OCR's learnable
      affine blocks);
    - a hard-swish's learnt scale, into the Conv before the hard-swish.

    Anything else is left as it is."""
    import onnx

    model = onnx.load_from_string(source)
    graph = _Graph(model.graph)
    changed = False
    for fold in (_fold_div_into_mul, _fold_batch_norm_into_convtranspose,
                 _fold_scalars_into_convs, _fold_hard_swish_scale):
        graph.hold()
        fold(graph)
        changed |= graph.remove_dropped()
    if not changed:
        return source
    graph.drop_unused()
    onnx.checker.check_model(model)
    return model.SerializeToString()


class _Graph:
    """An ONNX graph as `simplify`'s folds see it: its constants by name (Constant nodes and
    initializers), its outputs (never folded away), and the nodes a fold marks for removal.

    Nodes are marked by id(). A protobuf node's Python object lives only while something holds
    it, and a freed one's id can go to another node: `hold` keeps every node object alive."""

    def __init__(self, g) -> None:
        self.g = g
        self.consts = {n.output[0]: n.attribute[0].t for n in g.node if n.op_type == "Constant"
                       and len(n.attribute) == 1 and n.attribute[0].name == "value"}
        self.consts.update({t.name: t for t in g.initializer})
        self.outputs = {o.name for o in g.output}
        self.drop: set[int] = set()
        self._alive: list = []

    def value(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        if name not in self.consts:  # perhaps a tensor a fold has just made
            self.consts.update({t.name: t for t in self.g.initializer if t.name == name})
        return numpy_helper.to_array(self.consts[name]) if name in self.consts else None

    def nodes(self) -> list:
        """The nodes not marked for removal."""
        return [n for n in self.g.node if id(n) not in self.drop]

    def users(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for n in self.nodes():
            for i in n.input:
                out.setdefault(i, []).append(n)
        return out

    def producers(self) -> dict[str, object]:
        return {o: n for n in self.nodes() for o in n.output}

    def set_conv(self, conv, w: np.ndarray, b: np.ndarray, tag: str) -> None:
        """Give `conv` new weights and bias (new initializers named for `tag`)."""
        from onnx import numpy_helper

        n = len(self.g.initializer)
        names = (f"{conv.name}.{tag}_w{n}", f"{conv.name}.{tag}_b{n}")
        self.g.initializer.extend([numpy_helper.from_array(w.astype(np.float32), names[0]),
                                   numpy_helper.from_array(b.astype(np.float32), names[1])])
        conv.input[1] = names[0]
        if len(conv.input) > 2:
            conv.input[2] = names[1]
        else:
            conv.input.append(names[1])

    def hold(self) -> None:
        self._alive += list(self.g.node)

    def remove_dropped(self) -> bool:
        """Remove the marked nodes; whether there were any. (protobuf copies nodes on extend, so
        each fold starts from a clean graph.)"""
        if not self.drop:
            return False
        kept = self.nodes()
        del self.g.node[:]
        self.g.node.extend(kept)
        self.drop.clear()
        return True

    def drop_unused(self) -> None:
        """Constants and initializers that no node reads any more (the folded ones' old
        weights)."""
        g = self.g
        while True:
            read = {i for n in g.node for i in n.input} | self.outputs
            dead = [n for n in g.node if n.op_type == "Constant" and n.output[0] not in read]
            if not dead:
                break
            for n in dead:
                g.node.remove(n)
        read = {i for n in g.node for i in n.input} | self.outputs
        for t in [t for t in g.initializer if t.name not in read]:
            g.initializer.remove(t)


def _fold_div_into_mul(graph: _Graph) -> None:
    """`Div(x, c)` whose only user is `Mul(x, w)`, c and w scalar constants: `Mul(x, w / c)`."""
    from onnx import numpy_helper

    use, value, consts = graph.users(), graph.value, graph.consts
    for n in graph.nodes():
        c = value(n.input[1]) if n.op_type == "Div" and n.output[0] not in graph.outputs else None
        after = use.get(n.output[0], []) if c is not None else []
        if c is None or c.size != 1 or len(after) != 1 or after[0].op_type != "Mul":
            continue
        mul = after[0]
        w = [i for i in mul.input if i != n.output[0]]
        if len(w) != 1 or (wv := value(w[0])) is None or wv.size != 1 or len(use[w[0]]) != 1:
            continue
        folded = (wv.astype(np.float64) / float(c.reshape(-1)[0])).astype(wv.dtype)
        consts[w[0]].CopyFrom(numpy_helper.from_array(folded, consts[w[0]].name))
        mul.input[list(mul.input).index(n.output[0])] = n.input[0]
        graph.drop.add(id(n))


def _fold_batch_norm_into_convtranspose(graph: _Graph) -> None:
    """`ConvTranspose` (no bias) then `Add(bias)` then `BatchNormalization`: one ConvTranspose
    with its weights scaled and a bias."""
    from onnx import numpy_helper

    g, value, use = graph.g, graph.value, graph.users()
    for ct in [n for n in graph.nodes() if n.op_type == "ConvTranspose" and len(n.input) == 2]:
        after = use.get(ct.output[0], [])
        if len(after) != 1 or after[0].op_type != "Add":
            continue
        add = after[0]
        if {ct.output[0], add.output[0]} & graph.outputs:
            continue
        b = [i for i in add.input if i != ct.output[0]]
        nxt = use.get(add.output[0], [])
        if len(b) != 1 or value(b[0]) is None or len(nxt) != 1 \
                or nxt[0].op_type != "BatchNormalization" or len(nxt[0].output) != 1:
            continue
        bn = nxt[0]
        if value(ct.input[1]) is None or any(value(i) is None for i in bn.input[1:5]):
            continue
        gamma, beta, mean, var = (value(i).astype(np.float64) for i in bn.input[1:5])
        eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(var + eps)
        weights = value(ct.input[1]).astype(np.float64)
        bias = value(b[0]).astype(np.float64).reshape(-1)
        if weights.ndim != 4 or bias.size != scale.size or weights.shape[1] != scale.size:
            continue  # grouped, or a bias that is not one per output channel
        w_name, b_name = f"{ct.name}.folded_w", f"{ct.name}.folded_b"
        g.initializer.extend([
            numpy_helper.from_array((weights * scale.reshape(1, -1, 1, 1)).astype(np.float32),
                                    w_name),
            numpy_helper.from_array((scale * (bias - mean) + beta).astype(np.float32), b_name)])
        ct.input[1] = w_name
        ct.input.append(b_name)
        ct.output[0] = bn.output[0]
        graph.drop |= {id(add), id(bn)}


def _fold_scalars_into_convs(graph: _Graph) -> None:
    """The learnt scalar scale and shift around PP-OCR's convolutions, folded into them:
    `Conv` then `Mul(c)` then `Add(b)` (either or both, in that order) is one Conv with weights
    times c and bias times c plus b; and `Mul(k)` then `Add(b)` feeding a Conv is that Conv with
    weights times k and bias plus b times the sum of its weights, the Add only where the Conv pads
    nothing (a padded border would see 0 where the shifted input had b). Each folded op's output
    has that one user and is no graph output. Exact but for float rounding."""
    value, drop = graph.value, graph.drop

    def scalar(n, other: str) -> float | None:
        """The scalar constant `n` (a Mul or Add) applies to its input `other`."""
        rest = [i for i in n.input if i != other]
        if len(n.input) != 2 or len(rest) != 1 or (v := value(rest[0])) is None or v.size != 1:
            return None
        return float(v.reshape(-1)[0])

    def convs():
        """(conv, weights, bias) of each Conv whose weights and bias are constants, read as the
        loop reaches it (so after any fold made to it before)."""
        for conv in [n for n in graph.nodes() if n.op_type == "Conv"]:
            w = value(conv.input[1])
            if w is None or w.ndim != 4:
                continue
            b = value(conv.input[2]) if len(conv.input) > 2 else np.zeros(w.shape[0], w.dtype)
            if b is not None:
                yield conv, w.astype(np.float64), b.astype(np.float64).reshape(-1)

    def only_user(name: str, use: dict, op: str):
        after = use.get(name, [])
        ok = len(after) == 1 and after[0].op_type == op and name not in graph.outputs
        return after[0] if ok else None

    use = graph.users()
    for conv, w, b in convs():
        changed = False
        for op in ("Mul", "Add"):
            nxt = only_user(conv.output[0], use, op)
            c = scalar(nxt, conv.output[0]) if nxt is not None else None
            if c is None:
                continue
            if op == "Mul":
                w, b = w * c, b * c
            else:
                b = b + c
            conv.output[0] = nxt.output[0]
            drop.add(id(nxt))
            changed = True
        if changed:
            graph.set_conv(conv, w, b, "scaled")
    use, prod = graph.users(), graph.producers()
    for conv, w, b in convs():
        changed = False
        pads = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [])
        auto = next((a.s for a in conv.attribute if a.name == "auto_pad"), b"NOTSET")
        for op in ("Add", "Mul"):
            src = prod.get(conv.input[0])
            if src is None or src.op_type != op or only_user(src.output[0], use, "Conv") is None:
                continue
            x = next((i for i in src.input if value(i) is None), None)
            c = scalar(src, x) if x is not None else None
            if c is None:
                continue
            if op == "Add":
                if any(pads) or auto not in (b"NOTSET", b"VALID"):
                    break
                b = b + c * w.sum(axis=(1, 2, 3))
            else:
                w = w * c
            conv.input[0] = x
            drop.add(id(src))
            use[x] = [u for u in use.get(x, []) if u is not src] + [conv]
            changed = True
        if changed:
            graph.set_conv(conv, w, b, "scaled")


def _fold_hard_swish_scale(graph: _Graph) -> None:
    """A learnt scale k > 0 after a hard-swish of a Conv's output x, `Mul(x * Clip(x + 3, 0, 6),
    k)`, moved into the Conv: with the Conv's weights and bias times r = sqrt(k), the same is
    `(r x) * Clip(r x + 3r, 0, 6r)`, so the Mul goes (one int8 pass over the map fewer). Only
    where x has no other user and the Clip's bounds are constants. Exact but for float
    rounding."""
    from onnx import numpy_helper

    g, value, outputs = graph.g, graph.value, graph.outputs
    use, prod = graph.users(), graph.producers()

    def const(name: str, v: float) -> str:
        new = f"{name}.hswish{len(g.initializer)}"
        g.initializer.append(numpy_helper.from_array(np.array(v, np.float32), new))
        return new

    for mul in [n for n in graph.nodes() if n.op_type == "Mul"]:
        k_in = [i for i in mul.input if (v := value(i)) is not None and v.size == 1]
        m_in = [i for i in mul.input if i not in k_in]
        if len(k_in) != 1 or len(m_in) != 1 or (k := float(value(k_in[0]).reshape(-1)[0])) <= 0:
            continue
        inner = prod.get(m_in[0])
        if inner is None or inner.op_type != "Mul" or len(use.get(m_in[0], [])) != 1 \
                or m_in[0] in outputs or mul.output[0] in outputs:
            continue
        clip = next((prod.get(i) for i in inner.input
                     if prod.get(i) is not None and prod[i].op_type == "Clip"), None)
        x = next((i for i in inner.input if clip is None or i != clip.output[0]), None)
        conv = prod.get(x) if x is not None else None
        if clip is None or conv is None or conv.op_type != "Conv" or x in outputs:
            continue
        add = prod.get(clip.input[0])
        if add is None or add.op_type != "Add" or x not in add.input or len(clip.input) != 3:
            continue
        three = [i for i in add.input if i != x]
        lo, hi = value(clip.input[1]), value(clip.input[2])
        if len(three) != 1 or value(three[0]) is None or value(three[0]).size != 1 \
                or lo is None or hi is None or float(lo) != 0.0 \
                or sorted(map(id, use.get(x, []))) != sorted([id(add), id(inner)]) \
                or len(use.get(add.output[0], [])) != 1 or len(use.get(clip.output[0], [])) != 1:
            continue
        w = value(conv.input[1])
        b = value(conv.input[2]) if len(conv.input) > 2 else None
        if w is None or b is None:
            continue
        r = float(np.sqrt(k))
        graph.set_conv(conv, w.astype(np.float64) * r, b.astype(np.float64) * r, "hswish")
        add.input[list(add.input).index(three[0])] = const(three[0], float(value(three[0])) * r)
        clip.input[2] = const(clip.input[2], float(hi) * r)
        for user in use.get(mul.output[0], []):
            for j, i in enumerate(user.input):
                if i == mul.output[0]:
                    user.input[j] = m_in[0]
        graph.drop.add(id(mul))


def quantise(source: bytes, inputs: list[dict[str, np.ndarray]],
             finish: Callable[[bytes], bytes] | None = None) -> bytes:
    """The ONNX model `source` quantised to int8 (QDQ, per-channel weights at opset 13, uint8
    activations whose ranges are the min and max seen on `inputs`), with `finish` applied."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(inputs)

        def get_next(self):
            return next(self._it, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime's quantiser warns on the root logger ...
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # ... and its sessions on stderr
    try:
        with tempfile.TemporaryDirectory(prefix="safeguard-quantise-") as tmp:
            work = Path(tmp)
            model = onnx.load_from_string(source)
            if max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
                model = version_converter.convert_version(model, 13)  # per-channel scales
            onnx.save(model, str(work / "13.onnx"))
            quant_pre_process(str(work / "13.onnx"), str(work / "pre.onnx"),
                              skip_symbolic_shape=True)
            # MinMax calibration keeps each activation's min and max per input (reduce nodes
            # added to the graph), not the activations themselves
            quantize_static(str(work / "pre.onnx"), str(work / "int8.onnx"), Reader(),
                            quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            made = (work / "int8.onnx").read_bytes()
    finally:
        root.setLevel(level)
        onnxruntime.set_default_logger_severity(2)  # onnxruntime's own default
    return finish(made) if finish else made


INPUT_SCALE, INPUT_ZERO_POINT = "safeguard.input_scale", "safeguard.input_zero_point"


def quantised_input(model: bytes) -> bytes:
    """The int8 model `model` taking its input already quantised: where the graph's one input
    goes only into a QuantizeLinear (a scalar scale and zero point), that node is removed and
    its output becomes the input (uint8, same shape). The scale and zero point are kept in the
    model's metadata (INPUT_SCALE, INPUT_ZERO_POINT), so that the caller can quantise pixels
    itself (`input_table`) in one table lookup, where the model took a float image and
    quantised it again. Any other model is returned as it is."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load_from_string(model)
    g = m.graph
    if len(g.input) != 1:
        return model
    name = g.input[0].name
    users = [n for n in g.node if name in n.input]
    consts = {t.name: t for t in g.initializer}
    if len(users) != 1 or users[0].op_type != "QuantizeLinear" or users[0].input[0] != name \
            or len(users[0].input) != 3 or any(i not in consts for i in users[0].input[1:]):
        return model
    q = users[0]
    scale, zero = (numpy_helper.to_array(consts[i]) for i in q.input[1:])
    if scale.size != 1 or zero.size != 1 or zero.dtype != np.uint8:
        return model
    dims = [d.dim_param or d.dim_value for d in g.input[0].type.tensor_type.shape.dim]
    g.node.remove(q)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info(q.output[0], TensorProto.UINT8, dims))
    for key_, value in ((INPUT_SCALE, repr(float(scale.reshape(-1)[0]))),
                        (INPUT_ZERO_POINT, str(int(zero.reshape(-1)[0])))):
        m.metadata_props.add(key=key_, value=value)
    _Graph(g).drop_unused()  # the removed node's scale and zero point
    onnx.checker.check_model(m)
    return m.SerializeToString()


INPUT_LAYOUT, INPUT_REVERSED = "safeguard.input_layout", "safeguard.input_channels_reversed"


def channels_last_input(model: bytes) -> bytes:
    """The `quantised_input` model `model` taking its pixels as an image holds them: channels
    last (N, H, W, C, metadata INPUT_LAYOUT "NHWC") and in the other channel order (RGB for a
    model that takes BGR, INPUT_REVERSED "1").

    onnxruntime runs integer convolutions channels last: it put a Transpose of the whole image
    in front of the first one (4 ms at 1792 x 1344), after the caller's own transpose to
    channels first. Here the input goes through a Transpose to the model's own layout, which
    onnxruntime cancels against its own, and the channel order goes into the weights of the
    convolutions that read the input (their input channels reversed: the same integer sums, so
    the same output to the bit). Where the input does not go only into such convolutions (a
    per-tensor DequantizeLinear, then Convs whose int8 weights nothing else reads), the model
    is returned as it is, and its metadata says how to feed it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load_from_string(model)
    g = m.graph
    meta = {p.key for p in m.metadata_props}
    if len(g.input) != 1 or INPUT_SCALE not in meta or INPUT_LAYOUT in meta:
        return model
    x = g.input[0]
    dims = [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim]
    if x.type.tensor_type.elem_type != TensorProto.UINT8 or len(dims) != 4:
        return model
    graph = _Graph(g)
    use = graph.users()
    made = graph.producers()
    dq = use.get(x.name, [])
    if len(dq) != 1 or dq[0].op_type != "DequantizeLinear" or dq[0].input[0] != x.name:
        return model
    convs = use.get(dq[0].output[0], [])
    weights = []
    for conv in convs:
        wdq = made.get(conv.input[1]) if conv.op_type == "Conv" and len(conv.input) > 1 else None
        if conv.input[0] != dq[0].output[0] or wdq is None or wdq.op_type != "DequantizeLinear" \
                or wdq.input[0] not in graph.consts or len(use.get(wdq.input[0], [])) != 1 \
                or len(use.get(wdq.output[0], [])) != 1:
            return model
        weights.append(wdq.input[0])
    if not convs:
        return model
    for t in g.initializer:
        if t.name in weights:
            w = numpy_helper.to_array(t)
            if w.ndim != 4 or w.shape[1] != dims[1]:
                return model
            t.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w[:, ::-1]), t.name))
    nhwc = x.name + "_nhwc"
    g.node.insert(0, helper.make_node("Transpose", [nhwc], [x.name], perm=[0, 3, 1, 2],
                                      name="safeguard_channels_first"))
    del g.input[:]
    g.input.append(helper.make_tensor_value_info(
        nhwc, TensorProto.UINT8, [dims[0], dims[2], dims[3], dims[1]]))
    for key_, value in ((INPUT_LAYOUT, "NHWC"), (INPUT_REVERSED, "1")):
        m.metadata_props.add(key=key_, value=value)
    onnx.checker.check_model(m)
    return m.SerializeToString()


INPUT_BLOCK = "safeguard.input_block"


def paired_input(model: bytes) -> bytes:
    """The `channels_last_input` model `model` taking each 2 x 2 block of pixels as one position
    of 4C channels (rows of blocks, then the pixel's row and column in its block, then its
    channels; metadata INPUT_BLOCK "2"), where its input goes only into convolutions of 3 x 3,
    stride 2 and padding 1 (a network's usual first layer).

    Such a convolution is then a 2 x 2 kernel of stride 1 over the blocks, padded by one block
    above and to the left: each of its nine weights moves to the block and place its pixel has,
    the others are 0. The integer sums are the same, so the output is the same to the bit. On
    three channels the convolution's integer kernel wastes most of its width; on twelve at half
    the size it took 12-13 ms instead of 21 at 1792 x 1344, and pairing the rows 2 ms. Any
    other model (weights with a zero point other than 0 among them) is returned as it is."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load_from_string(model)
    g = m.graph
    meta = {p.key: p.value for p in m.metadata_props}
    if len(g.input) != 1 or meta.get(INPUT_LAYOUT) != "NHWC" or INPUT_BLOCK in meta:
        return model
    x = g.input[0]
    dims = x.type.tensor_type.shape.dim
    graph = _Graph(g)
    use = graph.users()
    made = graph.producers()
    first = use.get(x.name, [])
    if len(first) != 1 or first[0].op_type != "Transpose":
        return model
    dq = use.get(first[0].output[0], [])
    if len(dq) != 1 or dq[0].op_type != "DequantizeLinear":
        return model
    convs = use.get(dq[0].output[0], [])
    weights = {t.name: t for t in g.initializer}
    if not dims[3].dim_value:
        return model
    for conv in convs:
        if conv.op_type != "Conv" or conv.input[0] != dq[0].output[0]:
            return model
        wdq = made[conv.input[1]]  # channels_last_input checked it dequantises an initializer
        w = weights[wdq.input[0]]
        zero = graph.value(wdq.input[2]) if len(wdq.input) > 2 else None
        if zero is not None and np.any(zero != 0):  # a weight of 0 must add nothing
            return model
        attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        if list(attrs.get("kernel_shape", w.dims[2:])) != [3, 3] \
                or list(attrs.get("strides", [1, 1])) != [2, 2] \
                or list(attrs.get("pads", [0] * 4)) != [1, 1, 1, 1] \
                or list(attrs.get("dilations", [1, 1])) != [1, 1] or attrs.get("group", 1) != 1 \
                or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            return model
    if not convs:
        return model
    for conv in convs:
        t = weights[made[conv.input[1]].input[0]]
        w = numpy_helper.to_array(t)
        o, c = w.shape[:2]
        paired = np.zeros((o, 2, 2, c, 2, 2), w.dtype)  # out, pixel row and column in the
        for kr in range(3):                             # block, channel, block row and column
            br, dy = (0, 1) if kr == 0 else (1, kr - 1)
            for kc in range(3):
                bc, dx = (0, 1) if kc == 0 else (1, kc - 1)
                paired[:, dy, dx, :, br, bc] = w[:, :, kr, kc]
        t.CopyFrom(numpy_helper.from_array(paired.reshape(o, 4 * c, 2, 2), t.name))
        keep = [a for a in conv.attribute if a.name not in ("kernel_shape", "strides", "pads")]
        del conv.attribute[:]
        conv.attribute.extend(keep + [helper.make_attribute("kernel_shape", [2, 2]),
                                      helper.make_attribute("strides", [1, 1]),
                                      helper.make_attribute("pads", [1, 1, 0, 0])])
    for d, name in ((dims[1], "blocks_high"), (dims[2], "blocks_wide")):
        d.Clear()
        d.dim_param = name
    dims[3].dim_value = 4 * dims[3].dim_value
    m.metadata_props.add(key=INPUT_BLOCK, value="2")
    onnx.checker.check_model(m)
    return m.SerializeToString()


def input_layout(sess) -> tuple[str, bool, int]:
    """How a session's model takes its image: "NCHW" or "NHWC", whether in the other channel
    order than its source model (`channels_last_input`), and the side of the pixel blocks it
    takes as one position (`paired_input`; else 1)."""
    meta = sess.get_modelmeta().custom_metadata_map
    return (meta.get(INPUT_LAYOUT, "NCHW"), meta.get(INPUT_REVERSED) == "1",
            int(meta.get(INPUT_BLOCK, "1")))


def input_table(sess, values: np.ndarray) -> np.ndarray | None:
    """For a session of a `quantised_input` model, the uint8 its input takes for each of the
    float `values` (onnxruntime's own QuantizeLinear with the model's input scale and zero
    point, so exactly what the model did itself); None for a model that takes floats."""
    meta = sess.get_modelmeta().custom_metadata_map
    if INPUT_SCALE not in meta or sess.get_inputs()[0].type != "tensor(uint8)":
        return None
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    scale = np.array(float(meta[INPUT_SCALE]), np.float32)
    zero = np.array(int(meta[INPUT_ZERO_POINT]), np.uint8)
    n = int(values.size)
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["v", "s", "z"], ["q"])], "table",
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, [n])],
        [helper.make_tensor_value_info("q", TensorProto.UINT8, [n])],
        [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zero, "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    table = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return table.run(None, {"v": values.astype(np.float32).reshape(-1)})[0]
