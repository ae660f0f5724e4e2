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

Streamed jobs (``Job.chunk``) are decoded ``chunk`` tokens at a time: after
each round the worker hands every row's tokens so far to ``Job.on_tokens``
(the server sends them) and puts the job back at the end of the queue, so
other requests are served between its rounds. A later round continues each
unfinished row from its prompt and the tokens so far (a new prefill), at
the sampling step it reached (``decode_rows``' ``step0``) and with its stop
rules in the state they reached, so a seeded or greedy stream decodes the
same tokens as the request without ``stream``, up to the floating-point
difference between a prefill and a step-by-step decode of the same tokens.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
import random
import threading
import time
from typing import Callable, Mapping, Sequence

import numpy as np

_STOP = object()


@dataclasses.dataclass(eq=False)
class Job:
    """Rows to decode with one set of sampling settings; ``future`` gets the
    list of generated id arrays, one per row, in order.

    ``chunk`` (streamed): at most this many new tokens per row per round;
    ``on_tokens(tokens, finished)``, called by the worker after each round
    with every row's tokens so far and whether the row has finished, may
    return rows to finish now (a stop string was seen). ``abandon()`` (the
    client went away) drops the job before its next round."""

    prompts: Sequence[np.ndarray]
    limit: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    chunk: int | None = None
    on_tokens: Callable[[list[np.ndarray], list[bool]], Sequence[bool] | None] | None = None
    future: concurrent.futures.Future = dataclasses.field(
        default_factory=concurrent.futures.Future)
    tokens: list[np.ndarray] = dataclasses.field(init=False)
    finished: list[bool] = dataclasses.field(init=False)
    abandoned: bool = dataclasses.field(init=False, default=False)
    started: bool = dataclasses.field(init=False, default=False)

    def __post_init__(self):
        if self.chunk is not None and self.chunk < 1:
            raise ValueError(f"Job.chunk={self.chunk}: expected at least 1 token per round")
        self.tokens = [np.zeros(0, np.int32) for _ in self.prompts]
        self.finished = [False] * len(self.prompts)

    def key(self):
        if self.temperature <= 0:
            return ("greedy",)
        return ("sampled", float(self.temperature), float(self.top_p), self.seed)

    def abandon(self) -> None:
        self.abandoned = True


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

    def _start(self, job: Job) -> bool:
        """Whether ``job`` is to be decoded now (not cancelled or abandoned)."""
        if job.abandoned:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the client went away"))
            return False
        if job.started:
            return True
        job.started = job.future.set_running_or_notify_cancel()
        return job.started

    def _serve(self, group: list[Job]) -> None:
        live = [j for j in group if self._start(j)]
        if not live:
            return
        first = live[0]
        rules = self.sampler.stop_rules
        prompts, row_ids, step0, limits, where = [], [], [], [], []
        states: dict[str, list[int]] = {r.name: [] for r in rules}
        for job in live:
            for r, prompt in enumerate(job.prompts):
                if job.finished[r]:
                    continue
                got = job.tokens[r]
                # A continued row: its prompt and tokens so far, at the step it reached.
                prompts.append(np.concatenate([prompt, got]).astype(np.int32) if len(got)
                               else prompt)
                # A seeded job samples as rows 0..n-1 (reproducible); others take fresh rows.
                row_ids.append(r if job.seed is not None else len(row_ids))
                step0.append(len(got))
                left = job.limit - len(got)
                limits.append(min(left, job.chunk) if job.chunk else left)
                for rule in rules:
                    states[rule.name].append(rule.state(self.sampler.rule_ids[rule.name],
                                                        prompt, got))
                where.append((job, r))
        seed = first.seed if first.seed is not None else self._rng.randrange(2**31)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            self.sampler_calls += 1
            out = self.sampler.decode_rows(
                prompts, dict(row_ids=row_ids, step0=step0, limit=limits, states=states),
                temperature=max(first.temperature, 0.0), top_p=first.top_p,
                seed=seed, **self.stop)
        except Exception as e:  # noqa: BLE001 - handed to the waiting requests
            for job in live:
                job.future.set_exception(e)
            return
        for (job, r), new, limit in zip(where, out, limits):
            job.tokens[r] = np.concatenate([job.tokens[r], new]).astype(np.int32)
            # Short of its round's limit, a row stopped (EOS or a stop rule).
            job.finished[r] = (len(new) < limit or len(job.tokens[r]) >= job.limit or
                               self.sampler.stopped_at_end(job.prompts[r], job.tokens[r],
                                                           **self.stop))
        for job in live:
            if job.on_tokens is not None:
                try:
                    early = job.on_tokens(list(job.tokens), list(job.finished))
                except Exception as e:  # noqa: BLE001 - the request's own callback failed
                    job.future.set_exception(e)
                    continue
                for r, stop in enumerate(early or ()):
                    job.finished[r] = job.finished[r] or bool(stop)
            if all(job.finished):
                job.future.set_result(list(job.tokens))
                self.jobs_served += 1
            else:
                self._queue.put(job)  # its next round, after the requests now waiting
