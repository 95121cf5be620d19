"""An ONNX graph as the exact rewrites of safeguard.quantised see it (its folds before
quantising, its input rewrites after): constants by name, who reads and who makes each tensor, and
nodes marked for removal and removed together."""

from __future__ import annotations

import numpy as np


class Graph:
    """An ONNX graph as the folds and the input rewrites see it: its constants by name (Constant
    nodes and initializers), its outputs (never folded away), and the nodes a fold marks for
    removal.

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
