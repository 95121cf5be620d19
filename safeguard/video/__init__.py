"""Video clips: every frame checked, every face tracked, nothing in the container.

A clip goes through the same decisions as a photo, with faces followed from frame to frame:

1. `clip`: the file is opened with PyAV (FFmpeg's libraries, bundled in its wheels) and
   checked against the limits (length, size, frame rate; a still or a file without a video
   stream is refused); frames are decoded one at a time, turned upright by the clip's
   rotation, so memory stays bounded whatever the clip's length.
2. `tracks`: faces are found on every frame with the detector's upright passes, and every
   `full_every`-th frame with all of them (faces lying turned, second looks); ByteTrack
   (`supervision`) links the detections into tracks. A detection the tracker leaves alone
   becomes a track of its own, so nothing found goes unredacted. A track's box is interpolated
   over frames where the detector missed the face, and held a few frames before its first and
   after its last detection.
3. `identity`: a track is encoded on a few frames a second (its largest, sharpest faces) and
   decided under the photo rules (safeguard.policy): any frame near a restricted pupil makes the
   whole track restricted, and a register pupil holds the clip; a track is cleared only when
   its evidence agrees on one consenting pupil.
4. `container`: the redacted frames are encoded afresh (H.264 in MP4) into a hidden file, and
   the file is checked before it takes its name: an allow-list of MP4 boxes and streams (no
   dates, places, makes or models, no audio unless kept), then sampled frames searched again
   for faces: one found outside every kept track holds the clip.
"""

from safeguard.suffixes import VIDEO_SUFFIXES

__all__ = ["VIDEO_SUFFIXES"]
