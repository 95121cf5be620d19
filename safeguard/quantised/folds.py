"""Exact folds of a float model's graph before it is quantised (safeguard.quantised): each the
same function to float rounding, each one operation fewer that onnxruntime would not quantise or
that was one more pass over a whole feature map."""

from __future__ import annotations

import numpy as np

from safeguard.quantised.graph import Graph


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
    graph = Graph(model.graph)
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


def _fold_div_into_mul(graph: Graph) -> None:
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


def _fold_batch_norm_into_convtranspose(graph: Graph) -> None:
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


def _fold_scalars_into_convs(graph: Graph) -> None:
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


def _fold_hard_swish_scale(graph: Graph) -> None:
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
