"""One memory arena for every onnxruntime session of a process.

Each onnxruntime session keeps its own arena by default: the buffers of its largest run stay
held for the next one. A worker runs the face detector (1600 px passes), the face encoder and the
text detector (1792 px) one after another, so with one arena each it holds all three peaks at
once. Sessions that share one process-wide arena reuse the same buffers: measured on a 12 MP
group photo in one process, about 770 MB held after the whole pipeline instead of 1,091 MB; over
two workers blurring photos of many sizes (the shared test data's groups, identities and singles
and the speed benchmark's 12 MP photos), a peak of 1340-1586 MB instead of 1918-1955 MB
(docs/benchmarks.md, "Memory"). The arena grows to the next power of two, as onnxruntime's own
does: grown by exactly what is asked, it fragmented over photos of many sizes (enrolling 150
pupils: 2.2 GB instead of 1.5).
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
