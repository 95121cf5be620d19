"""The file names of pictures, in a module that imports nothing heavy: the batch commands look
at them before anything else is loaded (`workers.start_early`)."""

from __future__ import annotations

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".heic", ".heif",
                  ".avif", ".bmp", ".gif"}
# Names of pictures safeguard cannot read (or not safely): still taken, so that each gets a
# "rejected" line with the reason instead of being passed over in silence.
OTHER_IMAGE_SUFFIXES = {".jxl", ".jp2", ".j2k", ".jpx", ".psd", ".svg", ".svgz", ".ico", ".dng",
                        ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf", ".pef", ".srw",
                        ".tga", ".pcx", ".ppm", ".pgm", ".pbm", ".xcf", ".exr", ".hdr", ".qoi",
                        ".pjpeg", ".pjp", ".apng"}

# Clips: the containers phones and editors write for the clips schools post (safeguard.video).
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".webm"}
# Names of clips safeguard does not read: taken, so each gets a "rejected" line with the reason.
OTHER_VIDEO_SUFFIXES = {".avi", ".mkv", ".3gp", ".3g2", ".mts", ".m2ts", ".wmv", ".flv", ".mpg",
                        ".mpeg", ".ogv", ".hevc"}
# Every name a folder walk takes (each then gets a line: exported, held or rejected).
TAKEN_SUFFIXES = IMAGE_SUFFIXES | OTHER_IMAGE_SUFFIXES | VIDEO_SUFFIXES | OTHER_VIDEO_SUFFIXES
