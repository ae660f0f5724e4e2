"""Reproduction: Lee et al. 2023, "Teaching Arithmetic to Small Transformers",
sample efficiency on 3-digit addition (their Figure: test accuracy against the
number of training examples, per data format).

Arms: ``{plain,reversed}_{1k,3k,10k}`` and ``{simplified,detailed}_1k``, each
training on their balanced file ``train_3digit_N.txt`` written in that format
(``lee_file`` source; the formats are theirs character for character) and
evaluated on a seeded shuffle of their sorted ``test_10000.txt``. Every arm
trains the same token positions (their setup: a fixed number of iterations).

Data directory: ``$RTT_LEE2023_DIR``, else ``<checkout>/../shared/data/lee2023``
(``rtt_jax.external_data.LEE2023``; docs/reproductions.md, "Data"), resolved
when a config is built.
``python -m rtt_jax.experiments.lee2023_report --out=DIR`` runs it and writes
``docs/reproductions.md`` beside the paper's numbers.
"""
from __future__ import annotations

from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment
from rtt_jax.external_data import LEE2023
FORMATS = dict(plain="lee_plain", reversed="lee_reversed", simplified="lee_simplified",
               detailed="lee_detailed")
SIZES = dict(plain=(1000, 3000, 10000), reversed=(1000, 3000, 10000),
             simplified=(1000,), detailed=(1000,))


# Row length per format: each format packs into rows that fit its examples
# (plain ~12 characters, reversed ~14, simplified ~61, detailed up to 287), so
# no attention is spent on empty context; the rows per step scale so that
# every arm trains the same token positions per step (the variant's
# ``global_batch_size x seq_len``, set for the detailed scratchpad's 320).
ROW_LEN = dict(plain=64, reversed=64, simplified=128, detailed=320)


def _rows(fmt: str):
    def batch(c):
        return c.data.global_batch_size * c.data.seq_len // ROW_LEN[fmt]
    return batch


def _arm(fmt: str, n: int) -> Arm:
    return Arm(f"{fmt}_{n // 1000}k", {
        # A callable: the data directory is read when the config is built.
        "data.sources.lee.path": lambda c: LEE2023.path(f"train_3digit_{n}.txt"),
        "data.sources.lee.styles": FORMATS[fmt],
        "data.global_batch_size": _rows(fmt), "data.seq_len": ROW_LEN[fmt],
        "eval.styles.addition": FORMATS[fmt]},
        description=f"{n} examples in the {fmt} format")


EXPERIMENT = Experiment(
    name="lee2023",
    claim=("Scratchpad formats make 3-digit addition learnable from few examples; the plain "
           "format needs many more (Lee et al. 2023, sample efficiency)."),
    arms=tuple(_arm(fmt, n) for fmt, sizes in SIZES.items() for n in sizes),
    baseline="plain_1k", budget="tokens",
    seeds={"cpu": (0,), "gpu": (0,), "tpu": (0, 1, 2)})


def _with_data(c, test_n: int):
    c.data.sources = dict(lee=_common.source(
        kind="lee_file", path=LEE2023.path("train_3digit_1000.txt"),
        styles="lee_plain"))
    c.data.stages = _common.stages_one(dict(lee=1.0), dict(lee="0"))
    # Their test split only (no synthetic task sets): the answer accuracy and,
    # for the scratchpads, the step validity of every line.
    c.eval.update(families=(), styles=dict(addition="lee_plain"),
                  lee_path=LEE2023.path("test_10000.txt"), lee_n=test_n,
                  lee_name="lee2023/test", max_new_tokens=320, max_len=352)
    return c


def _cpu():
    # The swept CPU recipe (docs/recipes.md, "lee2023"): 4 layers, d=128, lr 5e-4
    # (reversed_10k: 98.8% against 93.0% at 1e-3 and 82.6% at 2e-3), beta2 0.99
    # (theirs), 2,500 steps of 1,280 token positions (20 rows of 64 for plain
    # and reversed, 10 of 128 for simplified, 4 of 320 for detailed).
    c = _common.cpu_config(steps=2500, seq_len=320, batch=4, n_layers=4, b2=0.99,
                           learning_rate=5e-4, warmup_steps=100)
    c.checkpoint.every_steps = 500
    return _with_data(c, test_n=1000)


def _paper(c):
    """Their model: 10.6M parameters (6 layers, d=384, 6 heads), 5,000 iterations,
    AdamW lr 1e-3 with beta2 0.99; 256 rows of 320 (81,920 positions per step;
    theirs were 256 x 256 = 65,536, but a detailed scratchpad does not fit 256)."""
    c.model.update(d_model=384, n_layers=6, n_heads=6, n_kv_heads=6)
    c.data.update(seq_len=320, global_batch_size=256)
    c.train.update(steps=5000, warmup_steps=100, learning_rate=1e-3, b2=0.99)
    c.train.log_every_steps = 50
    c.checkpoint.every_steps = 1000
    return _with_data(c, test_n=0)


def _gpu():
    # One GPU, bfloat16 compute: `make`-free, e.g.
    # python -m rtt_jax.experiments.run --experiment=lee2023 --variant=gpu --out=DIR
    c = _common.cpu_config(steps=5000)
    c.model.dtype = "bfloat16"
    c.hardware.peak_flops = 0.0
    c.eval.update(batch_size=512)
    return _paper(c)


def _tpu():
    c = _common.tpu_config(steps=5000, seq_len=320, batch=256)
    c.mesh.update(data=-1, fsdp=1)
    return _paper(c)


def get_config(arg="cpu/plain_1k"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, gpu=_gpu, tpu=_tpu))
