"""Imported by the fork server of the pools that process photos (`workers.pool(models=True)`):
every model a photo needs is loaded there once (`pipeline.warm_up`), before any worker is forked,
and each worker starts with them loaded, sharing their memory with the server and the other
workers until written to.

Loaded in each worker instead, the models cost every worker 0.5 CPU-s at start-up (two workers
on two cores: 1 CPU-s of a batch of eight 12 MP photos, docs/benchmarks.md "Start-up") and the
memory of a copy each. Nothing here reads the store or its key: the server holds models only.

OpenCV runs on one thread here as in the workers: a thread pool started in the server would
not exist in the processes forked from it.

The server ends as soon as the process that started it does, without tearing down the models
one by one (0.1 s): it holds nothing to save, and until it has ended a caller reading the
command's output (a script, the benchmark) waits for it, since it shares that output.
"""

from __future__ import annotations

import atexit
import os
import threading

import cv2

from safeguard.pipeline import warm_up

cv2.setNumThreads(1)
# The text reader loads on a thread of its own meanwhile: model loading mostly runs outside
# Python's lock, and the server's start is what the first photo waits for (0.35-0.40 s for all
# the models against 0.47-0.49 one after the other). The thread has ended before any fork.
_text = threading.Thread(target=warm_up, kwargs={"faces": False}, name="safeguard-load-text")
_text.start()
warm_up(text=False)
_text.join()


def _exit_now() -> None:
    os._exit(0)  # nothing to flush: the server writes nothing


atexit.register(_exit_now)
