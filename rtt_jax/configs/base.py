"""Base config: defines every field. Variants are chosen by argument.

    python -m rtt_jax.main --config=configs/base.py:tiny --workdir=/tmp/w \
        --config.train.steps=50

Variants: ``default`` (a small GPU/TPU run), ``tiny`` (CPU smoke run, well under
a minute on 2 cores), ``cpu`` (a longer CPU run), ``gpu`` (one H100/H200, a
303M-parameter bf16 model), ``v5e-64`` (a TPU pod slice). Every variant
trains on the curriculum pipeline (``data.sources`` mixed by ``data.stages``).
Experiment configs import this module, call ``get_config(variant)`` and
override only what differs.

Real sizes, ``SIZE`` or ``SIZE/TOPOLOGY`` (the topology defaults to v5e-64):
bf16 compute with float32 params and AdamW state, trained on the default
arithmetic curriculum like every variant, each with its own mesh and
axis rules for the topology (``_PARALLELISM``). Parameter counts are the
model's own (``rtt_jax.model.param_count`` of ``nnx.eval_shape``; the byte
vocab of 384 makes embeddings negligible):

========  =========================================  ======  ============================
variant   model (seq_len 1024)                       params  v5e-64 layout; compile_only
========  =========================================  ======  ============================
``125m``  d 768, 20 layers, 12 heads (4 kv)          126.2M  data=64 (params replicated),
                                                             batch 512 in 4 microbatches;
                                                             8.68 GiB of 16 per device
``350m``  d 1024, 30 layers, 16 heads (8 kv)         348.5M  data=8 x fsdp=8, batch 256
                                                             in 4 microbatches; 8.52 GiB
``1b``    d 2048, 22 layers, 16 heads (8 kv)         1.02B   fsdp=64, batch 256 in 4
                                                             microbatches; 15.29 GiB
========  =========================================  ======  ============================

The per-device totals are compile_only's as compiled for 64 fake CPU devices
(likely an overestimate of a TPU's temporaries: rtt_jax/train/compile_only.py);
microbatches keep even that estimate under a v5e's 16 GiB. An unknown
``SIZE/TOPOLOGY`` pair lists the known ones.

Check one for its target before a run (lowers and compiles the train step on
64 fake CPU devices here, or the real TPU topology when libtpu is installed,
and prints per-device memory against HBM)::

    python -m rtt_jax.main --mode=compile_only --config=configs/base.py:1b/v5e-64
"""
from __future__ import annotations

import copy

import ml_collections


def _source(**fields) -> dict:
    """Every source field, so that any can be set with --config.data.sources.<name>.<field>.

    kind: synthetic | textbook | traces | jsonl | tfds | lee_file; mode: trace | answer_only | full.
    prompt_loss: the prompt's tokens are targets too (any kind but textbook).
    synthetic: family, styles ("" = all), noise_* (share of traces corrupted). textbook: families ("" = all; mode full). traces: path (a traces.build output
    directory), format (jsonl | array_record). jsonl: path. tfds: tfds_name,
    path (data_dir), split, prompt_field, completion_field.
    """
    return dict(kind="synthetic", family="", styles="", families="", mode="trace",
                prompt_loss=False, path="",
                noise_wrong_step=0.0, noise_skipped_step=0.0, noise_wrong_answer=0.0,
                format="jsonl",
                tfds_name="", split="train", prompt_field="prompt",
                completion_field="completion") | fields


def _synthetic(family: str, styles: str = "", mode: str = "trace") -> dict:
    return _source(kind="synthetic", family=family, styles=styles, mode=mode)


# Sources and stages of the default curriculum (short traces that fit small rows).
_TASK_SOURCES = dict(
    addition=_synthetic("addition", "lee_plain,lee_reversed"),
    multiplication=_synthetic("multiplication", "long"),
    subtraction=_synthetic("subtraction", "count_up"),
    # Textbook sections teaching the same skills (loss on every token); add it
    # to a stage's mixture to train with textbook data.
    textbook=_source(kind="textbook", families="addition,multiplication,subtraction",
                     mode="full"),
)
# Stage 2 adds addition level 3 and a third family (a small share, so the
# shift is gentle); the last stage runs on to the end of training. A stage may
# also end on mastery: until=dict(metric="eval/addition/L2/answer_accuracy",
# at_least=0.9, max_steps=...) ends it at the first eval that reaches it
# (rtt_jax/data/curriculum.py).
_TWO_STAGES = [
    dict(name="warmup", steps=10, mixture=dict(addition=0.7, multiplication=0.3),
         levels=dict(addition="1-2", multiplication="1")),
    dict(name="main", steps=1_000_000,
         mixture=dict(addition=0.6, multiplication=0.3, subtraction=0.1),
         levels=dict(addition="1-3", multiplication="1", subtraction="1")),
]


def _base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.model = ml_collections.ConfigDict(dict(
        vocab_size=384,  # byte tokenizer needs 259; padded to a multiple of 128
        d_model=256, n_layers=6, n_heads=8, n_kv_heads=0, head_dim=0, d_ff=0,
        rope_theta=10_000.0, tie_embeddings=True,
        dtype="float32", param_dtype="float32",
        norm_eps=1e-6, init_std=0.02,
        # remat: recompute each block in the backward pass, keeping what
        # remat_policy (a jax.checkpoint_policies name) says to save.
        remat=False, remat_policy="nothing_saveable",
        # auto: cuDNN flash attention on GPU in bf16/fp16, else the XLA kernel
        # (rtt_jax/model/attention.py); or xla | dot_product_attention | cudnn.
        attention="auto",
        # Position ids for RoPE (rtt_jax/model/positions.py): rope; random_rope
        # (Ruoss et al. 2023: training ids a sorted random subset of
        # [0, max_position), which must cover the longest row and decode);
        # coupled (position coupling: completion line k starts at id
        # coupling_anchor + coupling_stride * k; a task family's
        # position_coupling(style) gives the pair; coupling_prompt: "question"
        # lays the prompt's lines after the question just before the
        # completion, "contiguous" leaves the prompt 0, 1, 2, ...); none (NoPE).
        # position_skip (rope, coupled; PoSE): training ids jump ahead once,
        # at a random cut, staying below max_position.
        positions="rope", position_skip=False, max_position=0, coupling_anchor=0,
        coupling_stride=0, coupling_prompt="question",
        # Run the blocks under nnx.scan, their parameters stacked on a leading
        # "layers" axis: compile time flat in depth, a slower step on CPU
        # (docs/benchmarks.md); on for the GPU/TPU-sized variants below.
        # Checkpoints restore under either setting (train/layer_layout.py).
        scan_layers=False,
        # Packed rows of short segments: the train step attends within a band
        # of attention_window_blocks blocks of attention_block queries when a
        # batch's segments all fit it (checked per batch; the same maths). XLA
        # attention kernel only; attention_block=0 turns it off. Off by default:
        # it gains nothing on make demo (21,155 vs 21,260 tok/s on 2 cores; 9 of
        # 60 traces batches fit). Exact where it runs (tests/test_banded_attention.py);
        # its 3-seed demo drop (88.8 vs 96.0) was float rounding amplified by
        # training, as large as running on one core instead of two
        # (docs/benchmarks.md, "The banded kernel and the demo's accuracy").
        attention_block=0, attention_window_blocks=2,
    ))

    # kind: "curriculum", the one data path (rtt_jax.data.pipeline: stages
    # mixing named sources; see rtt_jax/data/spec.py, curriculum.py and
    # sources.py for the fields).
    c.data = ml_collections.ConfigDict(dict(
        kind="curriculum",
        seq_len=128,  # model positions per row; rows carry seq_len + 1 tokens
        global_batch_size=64,
        tokenizer="bytes",  # or a directory written by Tokenizer.save
        on_bad_record="fatal",  # or "skip" (counted in data/bad_records)
        prefetch=2,  # batches made ahead (per worker, or by a thread when worker_count=0)
        # Grain worker processes running the pipeline (0: in this process).
        # Any count gives the same batches (rtt_jax/data/lane_packing.py).
        worker_count=0,
        # best_fit packs tightest; shuffle_rows emits each window's rows in a
        # seeded random order, so batches do not cycle from long to short
        # examples (docs/recipes.md, "Packing"). window: examples per lane pack.
        packing=ml_collections.ConfigDict(dict(
            algorithm="best_fit", overflow="split", window=64, shuffle_rows=True)),
    ))
    c.data.sources = ml_collections.ConfigDict(_TASK_SOURCES)
    c.data.stages = copy.deepcopy(_TWO_STAGES)  # lists are not copied by ConfigDict

    c.train = ml_collections.ConfigDict(dict(
        steps=1000,
        # 1e-3: the rate the sweeps in docs/recipes.md chose for the small CPU
        # models (3e-3, the first build's default, stalled them).
        learning_rate=1e-3, warmup_steps=50, min_lr_ratio=0.1,
        # cosine: decay to min_lr_ratio x peak at the last step; or
        # constant_cooldown: the peak held, then a linear cooldown to it over
        # the last cooldown_steps (rtt_jax/train/optimizer.py).
        schedule="cosine", cooldown_steps=0,
        weight_decay=0.1, b1=0.9, b2=0.95, eps=1e-8,
        grad_clip_norm=1.0,
        microbatches=1,  # gradient accumulation; global_batch_size must divide
        z_loss=0.0,
        log_every_steps=1,
        # A workdir whose newest verified params start a fresh run (step 0,
        # a fresh optimizer): continued training, the RL policy and its
        # reference (rtt_jax/train/init_from.py). "" = random init. A run with
        # its own checkpoint resumes that and ignores this.
        init_from="",
        # GPU only: XLA's --xla_gpu_deterministic_ops, so that a resumed run
        # equals the uninterrupted one bit for bit (rtt_jax/train/gpu_determinism.py;
        # bench/gpu_check.py checks it and its cost, not yet run on a GPU).
        # CPU and TPU are deterministic anyway.
        gpu_deterministic=False,
    ))

    c.checkpoint = ml_collections.ConfigDict(dict(
        every_steps=200, max_to_keep=3, async_save=True,
    ))

    # Evaluation: during training every `every_steps` (0: off) and `--mode=eval`.
    # levels / trained_levels: "train", "all", or a list of levels.
    c.eval = ml_collections.ConfigDict(dict(
        every_steps=0,
        families=("addition",),
        styles=ml_collections.ConfigDict(dict(addition="lee_plain")),
        levels=[1, 2, 3, 4, 5], trained_levels=[1, 2, 3],
        n_per_level=50, max_new_tokens=32, max_len=128, batch_size=64, samples_per_set=2,
        # External sets: a GSM8K-schema JSONL (gsm8k_n problems; 0 = all) and
        # reasoning-gym datasets (e.g. ("chain_sum", "gcd")), n_per_level each.
        gsm8k_path="", gsm8k_n=0, rg_datasets=(),
        # A Lee et al. 2023 file of addition problems (``a+b=c`` lines, e.g.
        # their test_10000.txt) as one set named lee_name, in the eval style of
        # addition; lee_n problems drawn by a seeded shuffle (0 = all).
        lee_path="", lee_n=0, lee_name="lee2023/test",
        # The evaluation during training may be lighter: these levels (empty:
        # levels) with this many problems each (0: n_per_level).
        periodic_levels=(), periodic_n_per_level=0,
        # Extra sets at the final evaluation (rtt_jax/evaluation/extra_sets.py):
        # the first seen_n_per_level training problems of each trained level
        # (train-test gap); held-out problems in surface form surface_form;
        # probe sets and probes of a misconception (probe_n problems each).
        seen_n_per_level=0, surface_form="", misconception="", probe_n=0,
        # Scored text (rtt_jax/evaluation/scored_text.py): a line followed by
        # retry_marker is retracted; lines starting with commentary_prefix are
        # explanations, not steps. Both set aside before scoring ("" = off).
        retry_marker="", commentary_prefix="",
    ))

    # -1 takes all remaining devices. Batch is split over data x fsdp.
    # Reinforcement from verified steps (python -m rtt_jax.rl; docs/rl.md):
    # GRPO from train.init_from's params, prompts from data.stages' synthetic
    # sources and levels, rewards from the family checkers. rl.steps counts
    # rollout iterations (prompts_per_step x group_size samples each, then
    # `minibatches` optimizer steps); checkpoint.every_steps and
    # train.log_every_steps count iterations too. The optimizer is train's
    # AdamW with rl's learning_rate, warmup_steps and min_lr_ratio.
    c.rl = ml_collections.ConfigDict(dict(
        steps=100, prompts_per_step=8, group_size=8,
        temperature=1.0, top_p=1.0, max_new_tokens=48,
        seq_len=0,  # update rows: prompt + completion <= seq_len + 1 tokens; 0 = data.seq_len
        # outcome: 1 for the right answer; process: that plus the share of
        # valid grounded steps (of max(written, the reference's)); mix: the
        # share weighted by steps_weight. Unparsed output loses format_penalty.
        reward="outcome", steps_weight=0.5, format_penalty=0.5,
        clip_eps=0.2,  # the ratio's clip range (1 +- clip_eps)
        kl_coef=0.0,  # k3 KL to the initial policy (always logged)
        # sequence: mean over each completion's tokens, then over completions
        # (DeepSeekMath); token: one mean over all sampled tokens (DAPO).
        length_norm="sequence",
        scale_advantages=True,  # divide by the group's std (False: Dr. GRPO)
        minibatches=1,  # optimizer steps per rollout batch (> 1: off-policy ratios)
        learning_rate=1e-4, warmup_steps=0, min_lr_ratio=1.0,
    ))

    c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))
    # Logical axis -> mesh axis (or None: replicated). One rule per logical name.
    c.axis_rules = [
        ("batch", ("data", "fsdp")),
        ("vocab", "tensor"),
        ("embed", "fsdp"),
        ("heads", "tensor"),
        ("kv_heads", "tensor"),
        ("kv", None),
        ("mlp", "tensor"),
        ("norm", None),
        ("layers", None),  # model.scan_layers' stacked axis: never sharded
    ]

    # Peak FLOP/s per device for MFU. 0: look up peak_flops_by_platform for the
    # backend. A CPU has no datasheet peak: `python bench/matmul_peak.py`
    # measures and caches this machine's, and without it MFU is logged as n/a
    # (rtt_jax/train/peak_flops.py).
    # The target, for --mode=compile_only (rtt_jax/train/compile_only.py):
    # chip ("" | v4 | v5e | v5litepod | v5p | v6e | h100 | h200) gives the HBM
    # per device, hbm_bytes (> 0) overrides it; device_count 0 = the mesh
    # product when no axis is -1, else this process's devices; topology names
    # a TPU topology (e.g. "v5e:8x8") to compile for when libtpu is installed.
    c.hardware = ml_collections.ConfigDict(dict(
        peak_flops=0.0,
        peak_flops_by_platform=ml_collections.ConfigDict(dict(
            cpu=0.0, gpu=989e12, tpu=197e12)),  # H100/H200 bf16 dense; v5e bf16
        chip="", device_count=0, hbm_bytes=0, topology="",
    ))

    c.distributed = ml_collections.ConfigDict(dict(
        initialize=False,  # or set RTT_JAX_DISTRIBUTED=1
        coordinator_address="", num_processes=0, process_id=-1,
    ))

    c.debug = ml_collections.ConfigDict(dict(
        inject_nan_at_step=-1,  # tests: poison the loss at this step
    ))
    return c


# Axis rules: the base ones shard "embed" over fsdp (FSDP / ZeRO-3: params and
# optimizer state split over the fsdp axis); data parallel keeps every
# parameter whole on every device. The batch is split over data x fsdp in both.
_DATA_PARALLEL_RULES = [("batch", ("data", "fsdp")), ("vocab", None), ("embed", None),
                        ("heads", None), ("kv_heads", None), ("kv", None), ("mlp", None),
                        ("norm", None), ("layers", None)]

# Real sizes: the model and its data/optimizer numbers.
_SIZES = {
    "125m": dict(model=dict(d_model=768, n_layers=20, n_heads=12, n_kv_heads=4),
                 seq_len=1024, learning_rate=6e-4),
    "350m": dict(model=dict(d_model=1024, n_layers=30, n_heads=16, n_kv_heads=8),
                 seq_len=1024, learning_rate=3e-4),
    "1b": dict(model=dict(d_model=2048, n_layers=22, n_heads=16, n_kv_heads=8),
               seq_len=1024, learning_rate=2e-4),
}
# Targets: chip (HBM per device), device count, TPU topology name.
_TOPOLOGIES = {
    "v5e-64": dict(chip="v5e", device_count=64, topology="v5e:8x8"),
}
# (size, topology) -> mesh, axis rules (None: the base FSDP rules), global
# batch (rows) and microbatches. Microbatches are sized so that compile_only's
# per-device total fits HBM even as compiled for CPU (XLA:CPU does not realise
# remat's savings, so remat is off and accumulation bounds the activations).
_PARALLELISM = {
    ("125m", "v5e-64"): dict(mesh=dict(data=64, fsdp=1, tensor=1), rules=_DATA_PARALLEL_RULES,
                             batch=512, microbatches=4),
    ("350m", "v5e-64"): dict(mesh=dict(data=8, fsdp=8, tensor=1), rules=None,
                             batch=256, microbatches=4),
    ("1b", "v5e-64"): dict(mesh=dict(data=1, fsdp=64, tensor=1), rules=None,
                           batch=256, microbatches=4),
}


def _sized(c: ml_collections.ConfigDict, size: str, topology: str) -> None:
    """A real-size model on the curriculum, laid out for ``topology``."""
    if (size, topology) not in _PARALLELISM:
        known = ", ".join(f"{s}/{t}" for s, t in _PARALLELISM)
        raise ValueError(f"configs/base.py: no layout for {size}/{topology}; known: {known}")
    s, p = _SIZES[size], _PARALLELISM[(size, topology)]
    c.model.update(dtype="bfloat16", param_dtype="float32", scan_layers=True, **s["model"])
    c.data.update(seq_len=s["seq_len"], global_batch_size=p["batch"])
    c.train.update(steps=20_000, warmup_steps=1000, learning_rate=s["learning_rate"],
                   microbatches=p["microbatches"])
    c.train.log_every_steps = 50
    c.checkpoint.every_steps = 1000
    c.mesh.update(**p["mesh"])
    if p["rules"] is not None:
        c.axis_rules = list(p["rules"])
    c.hardware.update(**_TOPOLOGIES[topology])
    c.distributed.initialize = True


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    variant = arg or "default"
    c = _base()
    size, _, topology = variant.partition("/")
    if size in _SIZES:
        _sized(c, size, topology or "v5e-64")
        return c
    if variant == "default":
        pass
    elif variant == "tiny":
        c.model.update(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2)
        c.data.update(seq_len=64, global_batch_size=16)
        c.train.update(steps=40, warmup_steps=5, learning_rate=1e-2)
        c.checkpoint.every_steps = 20
    elif variant == "cpu":  # a two-stage arithmetic curriculum, about 2 minutes on 2 cores
        c.model.update(d_model=128, n_layers=2, n_heads=4, n_kv_heads=2)
        c.data.update(seq_len=96, global_batch_size=16)
        c.data.stages[0]["steps"] = 150
        c.train.update(steps=400, warmup_steps=20, learning_rate=1e-3)
        c.train.log_every_steps = 10
        c.checkpoint.every_steps = 100
    elif variant == "gpu":  # one H100/H200: a 303M-parameter bf16 model, cuDNN attention
        c.model.update(d_model=1024, n_layers=24, n_heads=16, n_kv_heads=0,
                       dtype="bfloat16", attention="auto", scan_layers=True)
        c.data.update(seq_len=1024, global_batch_size=32)
        c.hardware.update(chip="h100", device_count=1)
        c.train.update(steps=20_000, warmup_steps=1000, learning_rate=3e-4)
        c.train.log_every_steps = 50
        c.checkpoint.every_steps = 1000
    elif variant == "v5e-64":
        c.model.update(d_model=1024, n_layers=16, n_heads=16, n_kv_heads=4,
                       dtype="bfloat16", vocab_size=384, scan_layers=True)
        c.data.update(seq_len=1024, global_batch_size=512)
        # 4 microbatches (2 rows per device each): without them compile_only
        # puts the step at 25.7 GiB per device (as compiled for CPU), over the
        # 16 GiB of a v5e; with them 8-9 GiB. Accumulation is one large batch.
        c.train.update(steps=20_000, warmup_steps=1000, learning_rate=1e-3, microbatches=4)
        c.train.log_every_steps = 50
        c.checkpoint.every_steps = 1000
        c.mesh.update(data=-1, fsdp=16, tensor=1)
        c.hardware.update(**_TOPOLOGIES["v5e-64"])
        c.distributed.initialize = True
    else:
        raise ValueError(f"configs/base.py: unknown variant {variant!r}; expected one of "
                         "default, tiny, cpu, gpu, v5e-64, " + ", ".join(_SIZES)
                         + " (SIZE or SIZE/TOPOLOGY)")
    return c
