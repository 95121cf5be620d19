"""The text detector, run as 8-bit integers: PP-OCRv4's DB model (the one rapidocr-onnxruntime
ships) quantised once per machine (safeguard.quantised), so that reading text costs about half
the CPU time.

The detector is nearly all of the text check's cost (a 1792 px image through a fully
convolutional network). Its graph simplified where that is exact (quantised.simplify), then
quantised per channel in onnxruntime (QDQ, activations calibrated on photos with signs in them),
it takes about a third of the float model's CPU time and finds about the
same text regions at the same size; safeguard.text spends the saving, and more, on a larger image
(`DET_SIDE`), where small print is found. Measured in benchmarks/bench_text.py.

The calibration images are the sample photos this package ships with text drawn on them in
Pillow's built-in font. Making the int8 copy takes about 20 s once; where it cannot be made the
float model runs instead (`SAFEGUARD_TEXT_INT8=0` always uses it).
"""

from __future__ import annotations

import logging
import random
import threading
from pathlib import Path

import cv2
import numpy as np

from safeguard import quantised

log = logging.getLogger(__name__)

CAL_SIDE = 1280  # the calibration images' long side, as the detector sees photos
_MEAN, _STD = 0.5, 0.5
_sessions: dict[int, Detector | None] = {}
_lock = threading.Lock()


def _source_model() -> Path:
    import rapidocr_onnxruntime

    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"


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


RECIPE = quantised.Recipe(
    name="text-det-int8", env="SAFEGUARD_TEXT_INT8",
    source=lambda: _source_model().read_bytes(),
    calibration=lambda: [{"x": x} for x in _calibration_images()],
    version=10,  # bump when anything above changes the quantised model
    minutes="about 20 s",
    prepare=quantised.simplify,
    finish=lambda model: quantised.paired_input(
        quantised.channels_last_input(quantised.quantised_input(model))))


def quantised_model() -> Path | None:
    """The int8 detector for this machine, made on first use; None when it cannot be had."""
    return quantised.model_path(RECIPE)


class Detector:
    """The int8 detector's session, and how it takes an image. The cached model takes pixels
    nearly as an image holds them: each pixel through one table lookup (quantised.
    quantised_input), channels last and in RGB order (quantised.channels_last_input), each 2 x 2
    block of pixels as one position of 12 channels (quantised.paired_input: OpenCV pairs the rows
    in 2 ms). At 1792 x 1344 that costs 4 ms where a float image took 10 and the model's own
    quantising and transposing 10 more, for the same map to the bit. A model that takes floats
    (an older cache) gets `model_input`'s."""

    def __init__(self, sess) -> None:
        self.sess = sess
        self.input = sess.get_inputs()[0].name
        grey = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)
        self.table = quantised.input_table(sess, model_input(grey)[0, 0, 0])
        self.layout, self.rgb, self.block = quantised.input_layout(sess)

    def pixels(self, rgb: np.ndarray) -> np.ndarray:
        """What the session takes for an RGB image (padded as `model_input` pads it)."""
        if self.table is None:
            return model_input(rgb)
        h, w = rgb.shape[:2]
        hh, ww = (h + 31) // 32 * 32, (w + 31) // 32 * 32
        if self.layout == "NHWC":
            img = cv2.LUT(rgb if self.rgb else np.ascontiguousarray(rgb[:, :, ::-1]), self.table)
            if (hh, ww) != (h, w):
                pad = int(self.table[128])  # mid grey, as `model_input` pads
                img = cv2.copyMakeBorder(img, 0, hh - h, 0, ww - w, cv2.BORDER_CONSTANT,
                                         value=(pad, pad, pad))
            if self.block == 2:  # 2 x 2 blocks of pixels as 12 channels (quantised.paired_input):
                pairs = img.reshape(hh, ww // 2, 6)  # each row's pixel pairs, then the rows'
                return cv2.merge([pairs[0::2], pairs[1::2]])[None]  # pairs side by side
            return img[None]
        out = np.full((1, 3, hh, ww), self.table[128], np.uint8)
        out[0, :, :h, :w] = cv2.LUT(rgb, self.table).transpose(2, 0, 1)[::-1]  # BGR, as PP-OCR
        return out

    def map(self, rgb: np.ndarray) -> np.ndarray:
        """The detector's text probability for each pixel of an RGB image, (1, 1, H, W)."""
        h, w = rgb.shape[:2]
        return self.sess.run(None, {self.input: self.pixels(rgb)})[0][:, :, :h, :w]


def session(threads: int = 1) -> Detector | None:
    """The int8 detector (one per process and thread count), or None when only the float model
    can run."""
    if threads in _sessions:
        return _sessions[threads]
    with _lock:
        if threads not in _sessions:
            path = quantised_model()
            det = None
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
                    det = Detector(ort.InferenceSession(str(path), opts,
                                                        providers=["CPUExecutionProvider"]))
                except Exception as e:  # noqa: BLE001 - a damaged cache file: float model
                    log.warning("int8 text detector unreadable (%s): using the float model", e)
            _sessions[threads] = det
        return _sessions[threads]
