"""A pool's workers keep the memory they free for their next photo (safeguard.workers.
keep_freed_memory): glibc's defaults give large blocks back to the kernel, and every photo then
took its memory again page by page, each page a fault the kernel zeroes (25,000-32,000 a 12 MP
photo). Measured here by page faults: a block freed and asked for again costs none in a worker,
and a full block's worth in a process with glibc's defaults."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BLOCK = 24 << 20  # bytes: over glibc's default threshold for giving memory back

PROBE = f'''
import ctypes, resource

def faults():
    """Page faults of writing a {BLOCK}-byte block, freeing it, and doing it again."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    out = []
    for _ in range(2):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = libc.malloc({BLOCK})
        ctypes.memset(block, 1, {BLOCK})
        libc.free(block)
        out.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return out
'''


def _run(tmp_path: Path, code: str) -> list[int]:
    (tmp_path / "probe.py").write_text(PROBE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])


def test_a_pool_worker_takes_no_page_again_for_memory_it_freed(tmp_path):
    first, again = _run(tmp_path, (
        "import probe\n"
        "from safeguard.workers import pool\n"
        "with pool(1) as p:\n"
        "    print(p.submit(probe.faults).result())\n"))
    pages = BLOCK // 4096
    assert first > pages // 4  # the probe sees the block's pages being taken
    assert again < pages // 20


def test_a_process_with_glibcs_defaults_takes_every_page_again(tmp_path):
    _first, again = _run(tmp_path, "import probe\nprint(probe.faults())\n")
    assert again > (BLOCK // 4096) // 4
