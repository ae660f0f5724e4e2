"""The curriculum input pipeline: per-host packed rows, exact resume, prefetch.

Lanes. A global batch has ``B = global_batch_size`` rows; row r of every
step comes from *lane* r, which packs its own example stream (lane r takes
stage examples ``j = k * B + r``, k = 0, 1, ...) with ``packing.PackedBatches``
(one row per step). A process builds only the lanes of its rows
(``process_rows``); since a lane depends on nothing but (config, seed, lane),
the union over hosts is exactly the 1-process global batch, for any host count.

``next(data)`` returns ``(local_rows, metrics)``: ``local_rows`` maps
tokens/segment_ids/positions/loss_mask to int32 [B / processes, seq_len + 1];
``metrics`` holds ``data/...`` floats: the pack stats of this host's rows
(``PackStats.as_metrics``), ``data/stage`` and ``data/bad_records``.

State (JSON, the same on every host; saved in each checkpoint)::

    {"kind": "curriculum", "stage": s, "step_in_stage": t,
     "lanes": [[window, row], ...]}      # B packer states, lane order

``get_state`` is a collective when there are several processes (lane states
are all-gathered), so every process must call it at the same step, as the
loop does at checkpoints. It describes the batches *consumed* by ``next``,
never the ones the prefetch thread made ahead. A restored run may have a
changed curriculum: if the saved stage is now shorter than its saved
position (or the stage is gone), the run moves on to the next stage.
"""
from __future__ import annotations

import os

import queue
import threading

import numpy as np

from rtt_jax.data.curriculum import Curriculum
from rtt_jax.data.packing import ROW_KEYS, PackedBatches, PackStats
from rtt_jax.data.sources import mix64

KIND = "curriculum"


def make_tokenizer(spec: str):
    """``"bytes"`` or a directory written by ``Tokenizer.save``."""
    from rtt_jax.data.tokenizer import ByteTokenizer, load_tokenizer
    return ByteTokenizer() if spec in ("", "bytes") else load_tokenizer(spec)


RUN_TOKENIZER_DIR = "tokenizer"


def save_run_tokenizer(config, workdir: str) -> None:
    """Keep the training tokenizer in the workdir (once, process 0), so that
    evaluation and sampling always decode with the one that trained."""
    import jax
    path = os.path.join(workdir, RUN_TOKENIZER_DIR)
    if jax.process_index() == 0 and not os.path.exists(path):
        make_tokenizer(config.data.tokenizer).save(path)


def run_tokenizer(config, workdir: str):
    """The tokenizer a run in ``workdir`` trained with (falls back to the config's)."""
    path = os.path.join(workdir, RUN_TOKENIZER_DIR)
    if os.path.exists(path):
        from rtt_jax.data.tokenizer import load_tokenizer
        return load_tokenizer(path)
    return make_tokenizer(config.data.tokenizer)


def _host():
    import jax
    return jax.process_index(), jax.process_count()


class CurriculumData:
    def __init__(self, curriculum: Curriculum, batch_size: int, seq_len: int, *,
                 window: int = 64, algorithm: str = "best_fit", overflow: str = "split",
                 shuffle_rows: bool = True, prefetch: int = 0, process_index: int | None = None,
                 process_count: int | None = None):
        if process_index is None or process_count is None:
            process_index, process_count = _host()
        if batch_size % process_count:
            raise ValueError(f"data.global_batch_size={batch_size} is not divisible by "
                             f"{process_count} processes")
        per = batch_size // process_count
        self.curriculum, self.batch_size, self.seq_len = curriculum, batch_size, seq_len
        self.lanes = range(process_index * per, (process_index + 1) * per)
        self.process_count = process_count
        self._pack_args = dict(window=window, algorithm=algorithm, overflow=overflow)
        self.shuffle_rows = shuffle_rows
        self.prefetch = prefetch
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._queue: queue.Queue | None = None
        self._start(0, 0, [[0, 0]] * batch_size)
        self._consumed = self._snapshot()

    # -- producing -------------------------------------------------------

    def _start(self, stage: int, t: int, lane_states) -> None:
        self._stage, self._t = stage, t
        self._packers = {lane: self._packer(stage, lane) for lane in self.lanes}
        for lane, packer in self._packers.items():
            w, r = lane_states[lane]
            packer.set_state({"kind": "packed_batches", "window": w, "row": r})
        # Not self._consumed: the prefetch thread calls this at a stage switch,
        # ahead of what the trainer has consumed (the saved position would
        # jump to the next stage and a resume would skip batches).

    def _packer(self, stage: int, lane: int) -> PackedBatches:
        example, b = self.curriculum.example, self.batch_size
        shuffle = mix64(self.curriculum.seed, stage, lane) >> 1 if self.shuffle_rows else None
        # Curriculum examples come from format_example, which checks each one.
        return PackedBatches(lambda k: example(stage, k * b + lane), 1, self.seq_len,
                             shuffle_seed=shuffle, validate=False, **self._pack_args)

    def _snapshot(self) -> tuple[int, int, list]:
        return (self._stage, self._t, [[p._w, p._r] for p in self._packers.values()])

    def _produce(self):
        stages = self.curriculum.stages
        if self._t >= stages[self._stage].steps and self._stage < len(stages) - 1:
            self._start(self._stage + 1, 0, [[0, 0]] * self.batch_size)
        rows, stats = [], PackStats()
        for packer in self._packers.values():
            row, window_stats = packer.next_row()
            rows.append(row)
            if window_stats is not None:  # the example-side counts of a new window
                stats = stats + window_stats
        stacked = np.stack(rows)  # [rows, 4, width]
        batch = {k: stacked[:, i] for i, k in enumerate(ROW_KEYS)}
        seg = batch["segment_ids"]
        stats.rows = len(rows)
        stats.placed_tokens = int((seg > 0).sum())
        stats.placed_targets = int(batch["loss_mask"].sum())
        stats.pad_tokens = int((seg == 0).sum())
        metrics = stats.as_metrics()
        metrics.update({"data/stage": float(self._stage),
                        "data/bad_records": float(self.curriculum.bad_records)})
        self._t += 1
        return batch, metrics, self._snapshot()

    def _put(self, item) -> None:
        # A timed put, so that close() never waits on a full queue nobody reads.
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._put(self._produce())
        except BaseException as e:  # surfaced to the consumer by __next__
            self._put(e)

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread, self._queue = None, None
            self._stop.clear()

    def close(self) -> None:
        self._stop_thread()

    def __iter__(self):
        return self

    def __next__(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        if self.prefetch <= 0:
            batch, metrics, self._consumed = self._produce()
            return batch, metrics
        if self._thread is None:
            self._queue = queue.Queue(maxsize=self.prefetch)
            self._thread = threading.Thread(target=self._run, name="curriculum-prefetch",
                                            daemon=True)
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._stop_thread()
            raise item
        batch, metrics, self._consumed = item
        return batch, metrics

    # -- state -----------------------------------------------------------

    def get_state(self) -> dict:
        stage, t, local = self._consumed
        lanes = np.asarray(local, np.int64).reshape(-1, 2)
        if self.process_count > 1:
            from jax.experimental import multihost_utils
            lanes = np.asarray(multihost_utils.process_allgather(lanes)).reshape(-1, 2)
        return {"kind": KIND, "stage": int(stage), "step_in_stage": int(t),
                "lanes": lanes.tolist()}

    def set_state(self, state: dict) -> None:
        if state.get("kind") != KIND:
            raise ValueError(f"data iterator state is for {state.get('kind')!r}, not {KIND}")
        lanes = [list(map(int, x)) for x in state["lanes"]]
        if len(lanes) != self.batch_size:
            raise ValueError(f"data iterator state has {len(lanes)} lanes but "
                             f"data.global_batch_size={self.batch_size}: the batch size "
                             "cannot change within a run")
        self._stop_thread()
        stage, t = int(state["stage"]), int(state["step_in_stage"])
        stages = self.curriculum.stages
        if stage >= len(stages) or (t >= stages[stage].steps and stage < len(stages) - 1):
            # The curriculum changed under a restored run: start the next stage.
            stage, t, lanes = min(stage + 1, len(stages) - 1), 0, [[0, 0]] * self.batch_size
        self._start(stage, t, lanes)
        self._consumed = self._snapshot()


def make_curriculum_data(config, process_index: int | None = None,
                         process_count: int | None = None) -> CurriculumData:
    d = config.data
    tok = make_tokenizer(d.tokenizer)
    try:
        curriculum = Curriculum.from_config(d, config.seed, tok)
    except ValueError as e:  # a field that only shows as wrong once sources are open
        if not str(e).startswith("config."):
            raise
        from rtt_jax.config_validation import ConfigError
        raise ConfigError(str(e)) from None
    p = d.packing
    return CurriculumData(curriculum, d.global_batch_size, d.seq_len, window=p.window,
                          algorithm=p.algorithm, overflow=p.overflow,
                          shuffle_rows=p.get("shuffle_rows", True), prefetch=d.prefetch,
                          process_index=process_index, process_count=process_count)
