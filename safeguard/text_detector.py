"""The text detector, run as 8-bit integers: PP-OCRv4's DB model (the one rapidocr-onnxruntime
ships) quantised once per machine, so that reading text costs about half the CPU time.

The detector is nearly all of the text check's cost (a 1792 px image through a fully
convolutional network). Quantised per channel in onnxruntime (QDQ, activations calibrated on
photos with signs in them), it takes about 55% of the float model's CPU time and finds about the
same text regions at the same size; safeguard.text spends the saving, and more, on a larger image
(`DET_SIDE`), where small print is found. Measured in benchmarks/bench_text.py.

Nothing is downloaded and no derived model is kept in the repository: the quantised copy is made
from the model inside the installed package, calibrated on the sample photos this package ships
with text drawn on them in Pillow's built-in font, and kept in a per-user cache
(`$SAFEGUARD_CACHE`, else `$XDG_CACHE_HOME/safeguard`, else `~/.cache/safeguard`), named by a hash
of everything that goes into it (the model, onnxruntime's version, this recipe). Making it takes
about 20 s once; two processes starting together make it once (a lock). Where no cache can be
written, or quantising fails, the float model runs instead: slower, never different in kind.
`SAFEGUARD_TEXT_INT8=0` always uses the float model.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import threading
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

RECIPE = 1  # bump when anything below changes the quantised model
CAL_SIDE = 1280  # the calibration images' long side, as the detector sees photos
_MEAN, _STD = 0.5, 0.5
_sessions: dict[int, object] = {}
_lock = threading.Lock()


def _source_model() -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"


def cache_dir() -> Path:
    env = os.environ.get("SAFEGUARD_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "safeguard"


def model_input(rgb: np.ndarray) -> np.ndarray:
    """An RGB image as the detector takes it: padded to multiples of 32 (mid grey), normalised,
    channels in PP-OCR's BGR order, NCHW float32."""
    h, w = rgb.shape[:2]
    hh, ww = (h + 31) // 32 * 32, (w + 31) // 32 * 32
    if (hh, ww) != (h, w):
        rgb = cv2.copyMakeBorder(rgb, 0, hh - h, 0, ww - w, cv2.BORDER_CONSTANT,
                                 value=(128, 128, 128))
    return cv2.dnn.blobFromImage(rgb, 1 / (255.0 * _STD), (0, 0), (255.0 * _MEAN,) * 3,
                                 swapRB=True)


def _calibration_images() -> list[np.ndarray]:
    """The shipped sample photos at 12 MP with signs drawn on them (names, words, numbers at
    several sizes, dark on light and light on dark), as the detector sees them."""
    from PIL import Image, ImageDraw, ImageFont

    from safeguard.shipped import path as shipped

    rng = random.Random(17)
    words = ["Ada Lovelace", "Year 4 Oak", "Sports Day", "Well done!", "Class 6B", "EXIT",
             "Grace Hopper", "Library", "4O", "Reading Week", "Team Blue", "2026"]
    srcs = sorted((shipped("samples") / "photos").glob("*.jpg")) + \
        sorted((shipped("samples") / "references").glob("*.jpg"))
    out = []
    for src in srcs:
        with Image.open(src) as im:
            img = im.convert("RGB").resize((4000, 3000))
        d = ImageDraw.Draw(img)
        for _ in range(6):
            cap = rng.choice([20, 28, 40, 64, 96])
            font = ImageFont.load_default(size=int(cap / 0.73))
            text = rng.choice(words)
            x, y = rng.randint(40, 3000), rng.randint(40, 2800)
            dark = rng.random() < 0.5
            box = d.textbbox((x, y), text, font=font)
            d.rectangle((box[0] - cap // 2, box[1] - cap // 2, box[2] + cap // 2,
                         box[3] + cap // 2), fill="white" if dark else (20, 20, 30))
            d.text((x, y), text, font=font, fill=(10, 10, 10) if dark else "white")
        rgb = np.asarray(img)
        s = CAL_SIDE / max(rgb.shape[:2])
        out.append(model_input(cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)))
    return out


def _key(source: bytes) -> str:
    import onnxruntime

    h = hashlib.sha256(source)
    h.update(f"{onnxruntime.__version__}/{RECIPE}/{CAL_SIDE}".encode())
    return h.hexdigest()[:16]


def _quantise(source: Path, dest: Path) -> None:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from consent_db.storage import atomic_write_bytes

    images = _calibration_images()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{"x": x} for x in images])

        def get_next(self):
            return next(self._it, None)

    work = dest.with_name(f".{dest.name}.{os.getpid()}")
    work.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime's quantiser warns on the root logger
    try:
        # per-channel scales need opset 13
        onnx.save(version_converter.convert_version(onnx.load(str(source)), 13),
                  str(work / "13.onnx"))
        quant_pre_process(str(work / "13.onnx"), str(work / "pre.onnx"),
                          skip_symbolic_shape=True)
        quantize_static(str(work / "pre.onnx"), str(work / "int8.onnx"), Reader(),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        atomic_write_bytes(dest, (work / "int8.onnx").read_bytes())
    finally:
        root.setLevel(level)
        for p in work.glob("*"):
            p.unlink(missing_ok=True)
        work.rmdir()


def quantised_model() -> Path | None:
    """The int8 detector for this machine, made on first use; None when it cannot be had."""
    if os.environ.get("SAFEGUARD_TEXT_INT8", "1") == "0":
        return None
    source = _source_model()
    try:
        folder = cache_dir()
        dest = folder / f"text-det-int8-{_key(source.read_bytes())}.onnx"
        if dest.is_file():
            return dest
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(folder / ".text-det.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be making it now
            if not dest.is_file():
                log.info("making the int8 text detector once for this machine (about 20 s)")
                _quantise(source, dest)
        return dest
    except Exception as e:  # noqa: BLE001 - no cache, or quantising failed: the float model runs
        log.warning("int8 text detector unavailable (%s): using the float model", e)
        return None


def session(threads: int = 1):
    """An onnxruntime session of the int8 detector (one per process and thread count), or None
    when only the float model can run."""
    if threads in _sessions:
        return _sessions[threads]
    with _lock:
        if threads not in _sessions:
            path = quantised_model()
            sess = None
            if path is not None:
                import onnxruntime as ort

                from safeguard.arena import share as share_arena

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                # as the face detector: no memory block planned and kept per input shape (the
                # arena reuses freed buffers); 75 MB less held a worker, and no slower
                opts.enable_mem_pattern = False
                share_arena(opts)  # one arena for every session of a process: safeguard/arena.py
                opts.log_severity_level = 4
                try:
                    sess = ort.InferenceSession(str(path), opts,
                                                providers=["CPUExecutionProvider"])
                except Exception as e:  # noqa: BLE001 - a damaged cache file: float model
                    log.warning("int8 text detector unreadable (%s): using the float model", e)
            _sessions[threads] = sess
        return _sessions[threads]


def probability_map(sess, rgb: np.ndarray) -> np.ndarray:
    """The detector's text probability for each pixel of an RGB image padded as model_input
    pads it, (1, 1, H, W)."""
    return sess.run(None, {"x": model_input(rgb)})[0]
