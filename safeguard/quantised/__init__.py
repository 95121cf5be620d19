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
from safeguard.quantised.folds import simplify
from safeguard.quantised.inputs import (
    INPUT_BLOCK,
    INPUT_LAYOUT,
    INPUT_REVERSED,
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    channels_last_input,
    input_layout,
    input_table,
    paired_input,
    quantised_input,
)

__all__ = ["INPUT_BLOCK", "INPUT_LAYOUT", "INPUT_REVERSED", "INPUT_SCALE", "INPUT_ZERO_POINT",
           "Recipe", "cached_path", "channels_last_input", "input_layout", "input_table",
           "model_path", "paired_input", "quantise", "quantised_input", "simplify"]

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
