"""The int8 model made to take its pixels as an image holds them (safeguard.quantised): already
quantised, channels last in the image's channel order, 2 x 2 blocks of pixels as one position.
Each rewrite gives the same integer sums, so the same output to the bit, and leaves any model it
does not fit as it is; the model's metadata says how to feed it (`input_layout`, `input_table`)."""

from __future__ import annotations

import numpy as np

from safeguard.quantised.graph import Graph

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
    Graph(g).drop_unused()  # the removed node's scale and zero point
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
    graph = Graph(g)
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
    graph = Graph(g)
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
