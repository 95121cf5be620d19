"""Before a copy is written, safeguard decodes it again (metadata.verify_clean): an output that
is cut short, damaged or of another size than the photo is refused. The check decodes a JPEG at
an eighth of its size, which still reads and entropy-decodes every byte of the stream."""

from __future__ import annotations

import numpy as np
import pytest

from safeguard.images import load_image
from safeguard.metadata import StripError, encode_clean, verify_clean
from tests.conftest import SAMPLES

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def clean():
    rgb = load_image(SAMPLES / "photos" / "assembly.jpg").rgb
    return encode_clean(rgb, "jpeg", 90), (rgb.shape[1], rgb.shape[0])


def test_a_whole_clean_copy_passes(clean):
    data, size = clean
    verify_clean(data, "jpeg", size)


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.999])
def test_a_copy_cut_short_is_refused(clean, keep):
    data, size = clean
    with pytest.raises(StripError):
        verify_clean(data[: int(len(data) * keep)], "jpeg", size)


def test_a_copy_of_another_size_is_refused(clean):
    data, (w, h) = clean
    with pytest.raises(StripError, match="expected"):
        verify_clean(data, "jpeg", (w, h + 1))


def test_a_copy_whose_scan_is_damaged_is_refused(clean):
    """Bytes of the entropy-coded scan overwritten with a restart marker that does not belong
    there: the decoder cannot go on."""
    data, size = clean
    sos = data.index(b"\xff\xda")
    damaged = bytearray(data)
    rng = np.random.default_rng(0)
    for at in rng.integers(sos + 600, len(data) - 600, 40):
        damaged[at : at + 2] = b"\xff\xd9"  # an end of image in the middle of the scan
    with pytest.raises(StripError):
        verify_clean(bytes(damaged), "jpeg", size)
