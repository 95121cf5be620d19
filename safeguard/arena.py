"""One memory arena for every onnxruntime session of a process.

Each onnxruntime session keeps its own arena by default: the buffers of its largest run stay
held for the next one. A worker runs the face detector (1600 px passes), the face encoder and the
text detector (1792 px) one after another, so with one arena each it holds all three peaks at
once. Sessions that share one process-wide arena reuse the same buffers, so a worker holds the
largest of the three peaks rather than their sum. The arena grows to the next power of two, as
onnxruntime's own does: grown by exactly what is asked, it fragmented over photos of many sizes.
What it saves and costs is measured in benchmarks/REPORT.md (speed: peak memory; enrolment) and
explained in docs/benchmarks.md ("Memory").
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_registered = False


def share(opts) -> None:
    """Make the session options `opts` use the process's shared arena (registered on first
    use)."""
    global _registered
    import onnxruntime as ort

    with _lock:
        if not _registered:
            info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                     ort.OrtMemType.DEFAULT)
            # max_mem 0: no limit; extend strategy 0: kNextPowerOfTwo; defaults for the rest
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 0, -1, -1))
            _registered = True
    opts.add_session_config_entry("session.use_env_allocators", "1")
