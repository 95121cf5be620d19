"""Where the encoding runs: this process, a local process pool, or a Ray cluster."""


from __future__ import annotations

import os
from typing import Any

from safeguard.index.common import IndexProblem
from safeguard.index.photo import FileResult, Task, index_file

# ---------------------------------------------------------------------------------------------
# Where the encoding runs: this process, a local process pool, or a Ray cluster


class _Backend:
    """Submit tasks, take results back in completion order; at most `window` in flight."""

    name = "local"
    workers = 1
    window = 1

    def submit(self, task: Task) -> None:
        raise NotImplementedError

    def next(self) -> FileResult:
        raise NotImplementedError

    def in_flight(self) -> int:
        raise NotImplementedError

    def full(self) -> bool:
        return self.in_flight() >= self.window

    def busy(self) -> bool:
        return self.in_flight() > 0

    def close(self) -> None:
        pass


class _Serial(_Backend):
    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.queue: list[Task] = []

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def next(self) -> FileResult:
        return index_file(self.queue.pop(0), self.max_pixels)

    def in_flight(self) -> int:
        return len(self.queue)


_WORKER_MAX_PIXELS = 100_000_000


def _init_worker(max_pixels: int, workers: int = 1, owner: int | None = None) -> None:
    global _WORKER_MAX_PIXELS
    _WORKER_MAX_PIXELS = max_pixels
    from safeguard.workers import side_by_side

    side_by_side(workers > 1)  # the workers' detectors' peaks add up
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    from safeguard.workers import die_with, die_with_parent

    # kill -9 of `safeguard index` must not leave workers holding its lock
    if owner:
        die_with(owner)
    else:
        die_with_parent()


def _work(task: Task) -> FileResult:
    return index_file(task, _WORKER_MAX_PIXELS)


class _LocalPool(_Backend):
    """Processes on this machine, one core each (detector and encoder are single-threaded)."""

    def __init__(self, jobs: int, max_pixels: int) -> None:
        from safeguard import workers

        self.workers = jobs
        self.window = 2 * jobs  # keeps every worker busy while the main process hashes
        self.pool = workers.pool(jobs, _init_worker, (max_pixels, jobs, os.getpid()))
        self.futures: set = set()
        self.done: list = []

    def submit(self, task: Task) -> None:
        self.futures.add(self.pool.submit(_work, task))

    def next(self) -> FileResult:
        from concurrent.futures import FIRST_COMPLETED, wait

        if not self.done:
            finished, self.futures = wait(self.futures, return_when=FIRST_COMPLETED)
            self.done.extend(finished)
        return self.done.pop().result()

    def in_flight(self) -> int:
        return len(self.futures) + len(self.done)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _RayPool(_Backend):
    """Ray actors (one CPU each, models loaded once per actor) in a ray.util.ActorPool."""

    name = "ray"

    def __init__(self, address: str, jobs: int | None, max_pixels: int) -> None:
        # Ray copies a `uv run` driver's command line to start its workers, and that `uv run`
        # re-syncs the environment without the extras (removing Ray itself): workers then die
        # at start and the pool waits for ever. Start workers with this interpreter instead.
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise IndexProblem("--ray needs Ray: install the extra (`uv sync --extra ray` or "
                               "`pip install 'safeguard[ray]'`)") from None
        import logging

        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            opts: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
            if address == "local":
                opts.update(num_cpus=jobs or os.cpu_count() or 1, include_dashboard=False)
            else:
                opts["address"] = address
            try:
                ray.init(**opts)
            except Exception as e:  # noqa: BLE001 - one line for the user, not Ray's traceback
                raise IndexProblem(f"cannot connect to Ray at {address}: "
                                   f"{str(e).splitlines()[0] if str(e) else type(e).__name__}"
                                   ) from None
            self.started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, min(jobs or cpus, cpus))
        self.window = 2 * self.workers
        actor = ray.remote(num_cpus=1)(_IndexActor)
        self.pool = ActorPool([actor.remote(max_pixels) for _ in range(self.workers)])
        self.count = 0

    def submit(self, task: Task) -> None:
        self.pool.submit(lambda a, t: a.index.remote(t), task)
        self.count += 1

    def next(self) -> FileResult:
        self.count -= 1
        return self.pool.get_next_unordered()

    def in_flight(self) -> int:
        return self.count

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


class _IndexActor:
    """A Ray actor: the face models stay loaded between photos. The archive must be readable at
    the same path on every node (a shared mount)."""

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels

    def index(self, task: Task) -> FileResult:
        return index_file(task, self.max_pixels)


def _backend(jobs: int | None, ray_address: str | None, n: int, max_pixels: int) -> _Backend:
    if ray_address:
        return _RayPool(ray_address, jobs, max_pixels)
    jobs = max(1, min(jobs or os.cpu_count() or 1, n))
    if jobs == 1:
        return _Serial(max_pixels)
    return _LocalPool(jobs, max_pixels)


