"""Helpers for the watched-folder tests: real watcher processes, photos made at test time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def faceless_jpeg(seed: int, size: tuple[int, int] = (240, 180)) -> bytes:
    """A small, unique, face-free JPEG (smooth colour fields and noise)."""
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * rng.integers(1, 4)) % 256, (y * rng.integers(1, 4)) % 256,
                     (x + y + seed) % 256], -1)
    noise = rng.integers(0, 40, (h, w, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def resized_jpeg(src: Path, width: int, exif: bool = True) -> bytes:
    """`src` resized to `width` (unique bytes per width), keeping its EXIF (GPS included)."""
    import io

    from PIL import Image, ImageOps

    with Image.open(src) as im:
        exif = im.getexif()
        exif[0x0112] = 1  # pixels are turned upright below
        ex = exif.tobytes()
        im = ImageOps.exif_transpose(im)
        h = round(im.height * width / im.width)
        out = im.convert("RGB").resize((width, h))
    buf = io.BytesIO()
    kw = {"exif": ex} if exif and ex else {}
    out.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def drop(inbox: Path, name: str, data: bytes, via_part: bool = True) -> Path:
    """Put a file in the inbox the way a browser or a copy tool does: written under a .part name,
    then renamed (or, with via_part False, written in place)."""
    final = inbox / name
    if via_part:
        tmp = inbox / (name + ".part")
        tmp.write_bytes(data)
        os.rename(tmp, final)
    else:
        final.write_bytes(data)
    return final


def watcher(home: Path, inbox: Path, ready: Path, *args: str, stdout=subprocess.PIPE,
            stderr=None) -> subprocess.Popen:
    """Start `safeguard watch` as a real process (its own process group)."""
    cmd = [sys.executable, "-m", "safeguard.cli", "--home", str(home), "watch", str(inbox),
           "--ready", str(ready), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(cmd, stdout=stdout, stderr=stderr, cwd=REPO, env=env,
                            start_new_session=True, text=True)


def run_once(home: Path, inbox: Path, ready: Path, *args: str, timeout: float = 300):
    cmd = [sys.executable, "-m", "safeguard.cli", "--home", str(home), "watch", str(inbox),
           "--ready", str(ready), "--once", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          check=False)


def stop(proc: subprocess.Popen, timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def wait_for(predicate, timeout: float = 60, interval: float = 0.1, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def status_lines(inbox: Path) -> list[str]:
    p = inbox / "_safeguard-status.txt"
    return p.read_text().splitlines() if p.exists() else []


def ready_files(ready: Path) -> list[str]:
    return sorted(p.name for p in ready.iterdir()) if ready.is_dir() else []


def status_json(home: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "safeguard.cli", "--home", str(home), "status",
                        "--json"], capture_output=True, text=True, cwd=REPO, timeout=60,
                       check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(d.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        nxt = {p for p, pp in parent.items() if pp in frontier and p not in out}
        out |= nxt
        frontier = nxt
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
