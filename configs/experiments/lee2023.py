"""Reproduction: Lee et al. 2023, "Teaching Arithmetic to Small Transformers",
sample efficiency on 3-digit addition (their Figure: test accuracy against the
number of training examples, per data format).

Arms: ``{plain,reversed}_{1k,3k,10k}`` and ``{simplified,detailed}_1k``, each
training on their balanced file ``train_3digit_N.txt`` written in that format
(``lee_file`` source; the formats are theirs character for character) and
evaluated on a seeded shuffle of their sorted ``test_10000.txt``. Every arm
trains the same token positions (their setup: a fixed number of iterations).

Data directory: ``$RTT_LEE2023_DIR`` or ``<repo>/../shared/data/lee2023``.
``python -m rtt_jax.experiments.lee2023 --out=DIR`` runs it and writes
``docs/reproductions.md`` beside the paper's numbers.
"""
from __future__ import annotations

import os

from configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment

DATA_DIR = os.environ.get("RTT_LEE2023_DIR") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "..", "shared", "data", "lee2023")
FORMATS = dict(plain="lee_plain", reversed="lee_reversed", simplified="lee_simplified",
               detailed="lee_detailed")
SIZES = dict(plain=(1000, 3000, 10000), reversed=(1000, 3000, 10000),
             simplified=(1000,), detailed=(1000,))


# Plain and reversed examples are 5-16 characters: they train in rows of 64
# (no attention spent on empty context), the batch scaled so that every arm
# still trains the same token positions per step as the scratchpads (whose
# examples, up to ~300 characters, need the variant's rows of 320).
SHORT_SEQ = 64


def _short_rows_batch(c):
    return c.data.global_batch_size * c.data.seq_len // SHORT_SEQ


def _arm(fmt: str, n: int) -> Arm:
    rows = {"data.global_batch_size": _short_rows_batch, "data.seq_len": SHORT_SEQ} \
        if fmt in ("plain", "reversed") else {}
    return Arm(f"{fmt}_{n // 1000}k", {
        "data.sources.lee.path": os.path.join(DATA_DIR, f"train_3digit_{n}.txt"),
        "data.sources.lee.styles": FORMATS[fmt], **rows,
        "eval.styles.addition": FORMATS[fmt]},
        description=f"{n} examples in the {fmt} format")


EXPERIMENT = Experiment(
    name="lee2023",
    claim=("Scratchpad formats make 3-digit addition learnable from few examples; the plain "
           "format needs many more (Lee et al. 2023, sample efficiency)."),
    arms=tuple(_arm(fmt, n) for fmt, sizes in SIZES.items() for n in sizes),
    baseline="plain_1k", budget="tokens",
    seeds={"cpu": (0,), "tpu": (0, 1, 2)})


def _with_data(c, test_n: int):
    c.data.sources = dict(lee=_common.source(
        kind="lee_file", path=os.path.join(DATA_DIR, "train_3digit_1000.txt"),
        styles="lee_plain"))
    c.data.stages = _common.stages_one(dict(lee=1.0), dict(lee="0"))
    # Their test split only (no synthetic task sets): the answer accuracy and,
    # for the scratchpads, the step validity of every line.
    c.eval.update(families=(), styles=dict(addition="lee_plain"),
                  lee_path=os.path.join(DATA_DIR, "test_10000.txt"), lee_n=test_n,
                  lee_name="lee2023/test", max_new_tokens=320, max_len=352)
    return c


def _cpu():
    # About 30 minutes for the 8 arms on 2 cores (docs/reproductions.md): 600 steps of
    # 5,120 token positions (3.1M per arm), a 2-layer d=128 model, 1,000 test problems.
    c = _common.cpu_config(steps=600, seq_len=320, batch=16)
    c.model.update(d_model=128, n_layers=2, n_heads=4, n_kv_heads=2)
    c.train.update(learning_rate=3e-3, warmup_steps=50)
    # The recorded CPU run (docs/reproductions.md) packed with best_fit.
    c.data.packing.algorithm = "best_fit"
    return _with_data(c, test_n=1000)


def _tpu():
    # Their model size (10.6M: 6 layers, d=384, 6 heads) and 5,000 iterations of 256
    # rows (of 320 positions: a detailed scratchpad does not fit their 256).
    c = _common.tpu_config(steps=5000, seq_len=320, batch=256)
    c.model.update(d_model=384, n_layers=6, n_heads=6, n_kv_heads=6)
    c.mesh.update(data=-1, fsdp=1)
    return _with_data(c, test_n=0)


def get_config(arg="cpu/plain_1k"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
