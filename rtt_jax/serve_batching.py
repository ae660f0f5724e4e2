"""Request batching for ``rtt_jax.serve``: one worker thread owns the sampler.

Requests (``Job``: one or more prompt rows with their sampling settings)
arrive from the HTTP handlers through a queue. The worker takes the first,
waits up to ``window_s`` for more (stopping early once ``max_batch`` rows are
collected), groups them by sampling settings and calls
``Sampler.decode_rows`` once per group, then resolves each job's future.
The sampler is not thread-safe; only the worker calls it.

Group key: greedy rows (temperature 0) all share one group whatever their
``top_p`` and seed; sampled rows group by (temperature, top_p, seed). Each row
has its own new-token limit (``decode_rows``' ``limit``), so different
``max_tokens`` share a call. Random streams: a seeded job's rows sample as
rows 0..n-1 of a call with that seed, so its output equals
``Sampler.generate([prompt] * n, seed=seed, ...)`` whatever it is batched
with; unseeded sampled rows share a fresh random seed per call and take
distinct row ids, so they never repeat each other.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
import random
import threading
import time
from typing import Mapping, Sequence

import numpy as np

_STOP = object()


@dataclasses.dataclass(eq=False)
class Job:
    """Rows to decode with one set of sampling settings; ``future`` gets the
    list of generated id arrays, one per row, in order."""

    prompts: Sequence[np.ndarray]
    limit: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    future: concurrent.futures.Future = dataclasses.field(
        default_factory=concurrent.futures.Future)

    def key(self):
        if self.temperature <= 0:
            return ("greedy",)
        return ("sampled", float(self.temperature), float(self.top_p), self.seed)


class Batcher:
    """The worker thread. ``sampler_calls`` counts ``decode_rows`` calls and
    ``jobs_served`` the jobs resolved (tests read both); ``delay_s`` sleeps
    before each call (a test hook that simulates a slow model)."""

    def __init__(self, sampler, window_s: float = 0.01, max_batch: int | None = None,
                 stop_on_eos: bool = True, stops: Mapping[str, bool] | None = None):
        self.sampler, self.window_s = sampler, window_s
        self.max_batch = max_batch or sampler.max_batch
        self.stop = dict(stop_on_eos=stop_on_eos, stops=stops)
        self.sampler_calls = self.jobs_served = 0
        self.delay_s = 0.0
        self._queue: queue.Queue = queue.Queue()
        self._rng = random.Random()
        self._thread = threading.Thread(target=self._run, name="rtt-serve-batcher", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> concurrent.futures.Future:
        if not self._thread.is_alive():
            raise RuntimeError("the batching worker has stopped")
        self._queue.put(job)
        return job.future

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # ---- the worker -----------------------------------------------------------

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        jobs, rows = [first], len(first.prompts)
        deadline = time.monotonic() + self.window_s
        while rows < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                item = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if item is _STOP:
                return jobs, True
            jobs.append(item)
            rows += len(item.prompts)
        return jobs, False

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            jobs, stopping = self._collect(item)
            groups: dict[tuple, list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.key(), []).append(job)
            for group in groups.values():
                self._serve(group)
        while True:  # fail whatever is still queued rather than leave clients waiting
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP and not item.future.done():
                item.future.set_exception(RuntimeError("the server is shutting down"))

    def _serve(self, group: list[Job]) -> None:
        live = [j for j in group if j.future.set_running_or_notify_cancel()]
        if not live:
            return
        first = live[0]
        prompts, row_ids, limits = [], [], []
        for job in live:
            n = len(job.prompts)
            prompts += list(job.prompts)
            # A seeded job samples as rows 0..n-1 (reproducible); others take fresh rows.
            row_ids += list(range(n)) if job.seed is not None else \
                list(range(len(row_ids), len(row_ids) + n))
            limits += [job.limit] * n
        seed = first.seed if first.seed is not None else self._rng.randrange(2**31)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            self.sampler_calls += 1
            out = self.sampler.decode_rows(
                prompts, dict(row_ids=row_ids, step0=np.zeros(len(prompts)), limit=limits),
                temperature=max(first.temperature, 0.0), top_p=first.top_p,
                seed=seed, **self.stop)
        except Exception as e:  # noqa: BLE001 - handed to the waiting requests
            for job in live:
                job.future.set_exception(e)
            return
        at = 0
        for job in live:
            job.future.set_result(out[at:at + len(job.prompts)])
            at += len(job.prompts)
            self.jobs_served += 1
