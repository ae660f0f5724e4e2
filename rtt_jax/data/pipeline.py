"""The curriculum input pipeline: Grain datasets per stage, stages switched on top.

Per stage (built by ``_stage_dataset``)::

    MapDataset.range(host's lanes)             # lane ids; ShardByJaxProcess (or the
                                               # given ShardOptions) picks the block
      -> LanePackIterDataset(Curriculum.examples(s))  # one packed row per lane per step
      -> mp_prefetch(worker_count) -> merge_lane_groups   # worker_count > 0
         | ThreadPrefetchIterDataset(prefetch)           # worker_count == 0

``Curriculum.examples(s)`` is the stage's Grain mixture of sources, formatted
and tokenized by Grain transformations (``data.curriculum``). Row r of every
global batch comes from lane r (``data.lane_packing``), which depends only on
(config, seed, r): the union over hosts is exactly the 1-process global
batch for any host count, and any ``worker_count`` gives the same rows.

``next(data)`` returns ``(local_rows, metrics)``: ``local_rows`` maps
tokens/segment_ids/positions/loss_mask to int32 [B / processes, seq_len + 1];
``metrics`` holds ``data/...`` floats: the pack stats of this host's rows
(``PackStats.as_metrics``), ``data/stage`` and ``data/bad_records``.

Stages are ours, on top of Grain: a stage ends after its ``steps``, or, with a
mastery gate (``until``), when ``observe`` sees its metric reach the
threshold at an evaluation. Each switch is logged and kept in ``switches``.

``CurriculumData`` is a ``grain.DatasetIterator``: the checkpoint saves it
with Grain's orbax handler (``grain.checkpoint``, one JSON file per process).
Its state describes the batches *consumed*, never those prefetched::

    {"kind": "curriculum", "stage": s, "step_in_stage": t, "switches": [...],
     "batch_size": B, "worker_count": n, "grain": <the stage iterator's Grain state>}

A state saved with another ``worker_count`` is restored by moving its lane
positions into the new pipeline's state (``lane_packing.with_lane_states``);
one saved by another number of hosts arrives as every host's state, and the
union of their lanes is restored the same way (``merge_host_states``).
A restored run may have a changed curriculum: if the saved stage is now
shorter than its saved position (or the stage is gone), the run moves on to
the next stage.
"""
from __future__ import annotations

import os
import threading
import time

import grain
import numpy as np
from absl import flags, logging

from rtt_jax.config_error import ConfigError
from rtt_jax.data.curriculum import Curriculum
from rtt_jax.data.lane_packing import KIND as LANE_KIND
from rtt_jax.data.lane_packing import (EXAMPLE_STATS, LanePackIterDataset, lane_states,
                                       merge_lane_groups, with_lane_states)
from rtt_jax.data.packing import ROW_KEYS, PackStats

KIND = "curriculum"
SHM_MIN_BYTES = 4 << 20


class CurriculumData(grain.DatasetIterator):
    def __init__(self, curriculum: Curriculum, batch_size: int, seq_len: int, *,
                 window: int = 64, algorithm: str = "best_fit", overflow: str = "split",
                 shuffle_rows: bool = True, prefetch: int = 0, worker_count: int = 0,
                 shard_options: grain.sharding.ShardOptions | None = None):
        super().__init__()
        shard = shard_options or grain.sharding.ShardByJaxProcess(drop_remainder=True)
        if batch_size % shard.shard_count:
            raise ValueError(f"data.global_batch_size={batch_size} is not divisible by "
                             f"{shard.shard_count} processes")
        per = batch_size // shard.shard_count
        self.curriculum, self.batch_size, self.seq_len = curriculum, batch_size, seq_len
        # The host's lanes, one contiguous block (the rows the batch assembly
        # expects from this process); workers split it into contiguous blocks.
        self.lanes = grain.MapDataset.range(shard.shard_index * per, (shard.shard_index + 1) * per)
        self._pack_args = dict(seq_len=seq_len, window=window, algorithm=algorithm,
                               overflow=overflow)
        self.shuffle_rows, self.prefetch, self.worker_count = shuffle_rows, prefetch, worker_count
        self.switches: list[dict] = []
        self._it = None
        self._open(0, 0)

    # -- the stage's Grain pipeline ---------------------------------------------

    def _stage_dataset(self, stage: int) -> grain.IterDataset:
        cur = self.curriculum
        ds = LanePackIterDataset(self.lanes, cur.examples(stage),
                                 shuffle_key=(cur.seed, stage) if self.shuffle_rows else None,
                                 **self._pack_args)
        if self.worker_count > 0:
            if not flags.FLAGS.is_parsed():  # Grain's workers read its absl flags
                flags.FLAGS.mark_as_parsed()  # (a notebook or test: no absl app)
            # Rows travel pickled through the worker queue below 4 MiB: a shared
            # memory block per element costs more than copying small ones.
            ds = grain.experimental.WithOptionsIterDataset(
                ds, grain.experimental.DatasetOptions(min_shm_size=SHM_MIN_BYTES))
            ds = ds.mp_prefetch(grain.MultiprocessingOptions(
                num_workers=self.worker_count, per_worker_buffer_size=max(self.prefetch, 1)),
                worker_init_fn=exit_with_parent, sequential_slice=True)
            return merge_lane_groups(ds, self.worker_count)
        if self.prefetch > 0:
            return grain.experimental.ThreadPrefetchIterDataset(
                ds, prefetch_buffer_size=self.prefetch)
        return ds

    def _open(self, stage: int, t: int) -> None:
        self._close_stage()
        self._stage, self._t = stage, t
        self._it = iter(self._stage_dataset(stage))

    def _close_stage(self) -> None:
        if self._it is not None and hasattr(self._it, "close"):
            self._it.close()
        self._it = None

    def _switch(self, reason: str, **detail) -> None:
        stage = self.curriculum.stages[self._stage]
        record = {"from": self._stage, "to": self._stage + 1, "after_steps": self._t,
                  "reason": reason, **detail}
        self.switches.append(record)
        logging.info("curriculum: stage %d (%s) ends after %d steps (%s); stage %d begins",
                     self._stage, stage.name, self._t,
                     reason if reason == "steps" else
                     f"{detail['metric']}={detail['value']:.4g} >= {detail['at_least']:g}",
                     self._stage + 1)
        self._open(self._stage + 1, 0)

    @property
    def stage(self) -> int:
        return self._stage

    def start_stage(self, stage: int) -> None:
        """Continue from the beginning of ``stage`` (inspection tools)."""
        if not 0 <= stage < len(self.curriculum.stages):
            raise ValueError(f"stage {stage}: the curriculum has {len(self.curriculum.stages)}")
        self._open(stage, 0)

    # -- iterating ----------------------------------------------------------------

    def __next__(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        stages = self.curriculum.stages
        if self._t >= stages[self._stage].steps and self._stage < len(stages) - 1:
            self._switch("steps")
        element = next(self._it)
        if self.worker_count:
            # Plain copies: a worker's arrays arrive in shared memory, which is
            # better released now than at interpreter exit.
            element = {k: np.array(v) for k, v in element.items()}
        rows = element["rows"]
        batch = {k: rows[:, i] for i, k in enumerate(ROW_KEYS)}
        stats = PackStats(**{f: int(v) for f, v in zip(EXAMPLE_STATS, element["window_stats"])})
        seg = batch["segment_ids"]
        stats.rows = len(rows)
        stats.placed_tokens = int((seg > 0).sum())
        stats.placed_targets = int(batch["loss_mask"].sum())
        stats.pad_tokens = int((seg == 0).sum())
        metrics = stats.as_metrics()
        metrics.update({"data/stage": float(self._stage),
                        "data/bad_records": float(self.curriculum.bad_records)})
        self._t += 1
        return batch, metrics

    def observe(self, step: int, metrics: dict) -> bool:
        """Mastery gating: called with each evaluation's metrics (every process,
        the same values). Ends the current stage, from the next batch on, when
        its gate's metric has reached ``at_least``. Returns whether it did."""
        stages = self.curriculum.stages
        gate = stages[self._stage].until
        if gate is None or self._stage == len(stages) - 1:
            return False
        # "eval/addition_L2/..." also names the set "addition/L2".
        metrics = {**{k.replace("/L", "_L", 1): v for k, v in metrics.items()}, **metrics}
        if gate.metric not in metrics:
            have = sorted(k for k in metrics if k.startswith("eval/") and "_L" not in k)
            raise ConfigError(
                f"config.data.stages[{self._stage}].until.metric={gate.metric!r}: the "
                f"evaluation has no such metric; it has {', '.join(have[:8])}"
                f"{' ...' if len(have) > 8 else ''}")
        value = float(metrics[gate.metric])
        if value < gate.at_least:
            return False
        self._switch("metric", step=int(step), metric=gate.metric, value=value,
                     at_least=gate.at_least)
        return True

    def close(self) -> None:
        self._close_stage()

    # -- state --------------------------------------------------------------------

    def get_state(self) -> dict:
        return {"kind": KIND, "stage": self._stage, "step_in_stage": self._t,
                "switches": list(self.switches), "batch_size": self.batch_size,
                "worker_count": self.worker_count, "grain": self._it.get_state()}

    def set_state(self, state: dict) -> None:
        if state.get("kind") == "per_process":  # saved by another number of hosts
            state = merge_host_states(state["states"])
        if state.get("kind") != KIND:
            raise ValueError(f"data iterator state is for {state.get('kind')!r}, not {KIND}")
        if state.get("batch_size") != self.batch_size:
            raise ValueError(f"data iterator state is for data.global_batch_size="
                             f"{state.get('batch_size')}, not {self.batch_size}: the batch "
                             "size cannot change within a run")
        stage, t = int(state["stage"]), int(state["step_in_stage"])
        self.switches = list(state.get("switches", []))
        stages = self.curriculum.stages
        if stage >= len(stages) or (t >= stages[stage].steps and stage < len(stages) - 1):
            # The curriculum changed under a restored run: start the next stage.
            self._open(min(stage + 1, len(stages) - 1), 0)
            return
        saved = state["grain"]
        self._open(stage, t)
        if state.get("worker_count") != self.worker_count:
            # Grain's state has one entry per worker: move the lane positions
            # into this pipeline's own layout.
            saved = with_lane_states(self._it.get_state(), lane_states(saved))
        self._it.set_state(saved)


def merge_host_states(states: list[dict]) -> dict:
    """One state from every host's (a checkpoint of another host count, as
    ``train.checkpoint`` restores it): the stage bookkeeping is the same on
    all hosts; the lane positions are the union of theirs."""
    if not states or any(st.get("kind") != KIND for st in states):
        kinds = sorted({str(st.get("kind")) for st in states})
        raise ValueError(f"data iterator states are for {kinds}, not {KIND}")
    lanes: dict = {}
    for st in states:
        lanes.update(lane_states(st["grain"]))
    return {**states[0], "worker_count": None,  # not this layout: set_state moves the lanes
            "grain": {"kind": LANE_KIND, "lanes": lanes}}


def exit_with_parent(worker_index: int, worker_count: int) -> None:
    """Grain worker start-up: exit when the trainer is gone. A SIGKILLed
    trainer cannot stop its workers, which would wait on a full queue
    forever (and pile up over restarts); a daemon thread in each worker
    watches for the parent to change and ends the worker within a second."""
    del worker_index, worker_count
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def make_curriculum_data(spec, tokenizer, process_index: int | None = None,
                         process_count: int | None = None) -> CurriculumData:
    """The run's pipeline from a checked ``spec.DataSpec`` and the run's
    tokenizer; ``process_index``/``process_count`` (tests, tools) stand in
    for ``jax.process_index()``/``jax.process_count()``."""
    try:
        curriculum = Curriculum.from_spec(spec, tokenizer)
    except ValueError as e:  # a field that only shows as wrong once sources are open
        if not str(e).startswith("config."):
            raise
        raise ConfigError(str(e)) from None
    p = spec.packing
    shard = None
    if process_index is not None and process_count is not None:
        shard = grain.sharding.ShardOptions(shard_index=process_index,
                                            shard_count=process_count, drop_remainder=True)
    return CurriculumData(curriculum, spec.global_batch_size, spec.seq_len, window=p.window,
                          algorithm=p.algorithm, overflow=p.overflow,
                          shuffle_rows=p.shuffle_rows, prefetch=spec.prefetch,
                          worker_count=spec.worker_count, shard_options=shard)


def first_global_batches(spec, tokenizer, n: int) -> list[dict]:
    """The first ``n`` global batches (numpy rows) of a checked
    ``spec.DataSpec``, built in one process: what benches time and tests
    feed the step directly."""
    data = make_curriculum_data(spec, tokenizer, 0, 1)
    try:
        return [next(data)[0] for _ in range(n)]
    finally:
        data.close()
