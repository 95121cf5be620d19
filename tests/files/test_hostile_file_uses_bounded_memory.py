"""Files that declare enormous sizes are refused from their header, quickly, without allocating.

Measured in a fresh subprocess (peak RSS, VmHWM, before and after), because Pillow's pixel buffers
live outside Python's allocator where tracemalloc cannot see them. (getrusage's ru_maxrss would
not do: Linux carries the forking parent's peak, pytest's, across exec.) A 30000x30000 RGB
image would need 2.7 GB; the limit (config.max_pixels, 100 MP) caps a decoded photo at ~300 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import hostile_corpus as hc

from safeguard.config import Config

pytestmark = [pytest.mark.model, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

_PROBE = r"""
import json, sys, time
from safeguard.images import LoadError, load_image
from PIL import Image
Image.new("RGB", (64, 64)).load()  # warm up Pillow's own allocations


def peak_kb():
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM:")).split()[1])


before = peak_kb()
t = time.perf_counter()
try:
    load_image(sys.argv[1])
    result = "loaded"
except LoadError as e:
    result = str(e)
seconds = time.perf_counter() - t
after = peak_kb()
print(json.dumps({"result": result, "seconds": seconds, "grew_mb": (after - before) / 1024}))
"""


def _probe(path: Path) -> dict:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc/self/status (Linux)")
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    "name,data",
    [
        ("declared-30000x30000.jpg", lambda: hc.jpeg_with_declared_size(30000, 30000)),
        ("declared-12000x10000.jpg", lambda: hc.jpeg_with_declared_size(12000, 10000)),
        ("bomb-screen.gif", hc.gif_bomb),
    ],
)
def test_huge_declared_size_is_refused_without_allocating(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data())
    assert path.stat().st_size < 10_000
    got = _probe(path)
    assert got["result"].startswith("image too large"), got
    assert "limit 100 MP" in got["result"]
    assert got["seconds"] < 1.0, got
    assert got["grew_mb"] < 30, got


def test_pixel_limit_is_the_configured_one():
    from PIL import Image

    from safeguard.images import LoadError, decode_image

    assert Config().max_pixels == 100_000_000
    before = Image.MAX_IMAGE_PIXELS
    small_limit = 10_000  # 100 x 100
    with pytest.raises(LoadError, match=r"image too large .*limit 0.01 MP"):
        decode_image(hc.jpeg(hc.pattern(240, 160)), max_pixels=small_limit)
    assert decode_image(hc.jpeg(hc.pattern(100, 100)), max_pixels=small_limit).width == 100
    assert Image.MAX_IMAGE_PIXELS == before  # the caller's limit does not leak into Pillow


def test_the_measurement_sees_a_real_decode(tmp_path):
    """Control: decoding a real 12 MP photo does show up in the probe (~100 MB)."""
    path = tmp_path / "12mp.jpg"
    path.write_bytes(hc.jpeg(hc.pattern(4000, 3000), quality=80))
    got = _probe(path)
    assert got["result"] == "loaded"
    assert got["grew_mb"] > 50, got
