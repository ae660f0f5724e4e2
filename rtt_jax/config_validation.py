"""Semantic checks on a loaded config: one clear line naming the field."""
from __future__ import annotations

from rtt_jax.model import ModelConfig


class ConfigError(ValueError):
    pass


def _require(ok: bool, field: str, value, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config.{field}={value!r}: expected {expected}")


def model_config(config) -> ModelConfig:
    try:
        return ModelConfig(**config.model.to_dict())
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config.model: {e}") from None


def validate(config) -> ModelConfig:
    """Raise ConfigError on the first unusable field; return the ModelConfig."""
    t, d, c = config.train, config.data, config.checkpoint
    _require(isinstance(config.seed, int), "seed", config.seed, "an integer")
    _require(t.steps >= 1, "train.steps", t.steps, "a positive number of steps")
    _require(t.learning_rate > 0, "train.learning_rate", t.learning_rate, "a positive float")
    _require(t.warmup_steps >= 0, "train.warmup_steps", t.warmup_steps, ">= 0")
    _require(0 <= t.min_lr_ratio <= 1, "train.min_lr_ratio", t.min_lr_ratio, "a ratio in [0, 1]")
    _require(t.grad_clip_norm > 0, "train.grad_clip_norm", t.grad_clip_norm, "a positive float")
    _require(t.microbatches >= 1, "train.microbatches", t.microbatches, ">= 1")
    _require(t.log_every_steps >= 1, "train.log_every_steps", t.log_every_steps, ">= 1")
    _require(t.z_loss >= 0, "train.z_loss", t.z_loss, ">= 0")
    _require(d.seq_len >= 8, "data.seq_len", d.seq_len, ">= 8")
    _require(d.global_batch_size >= 1, "data.global_batch_size", d.global_batch_size, ">= 1")
    _require(d.global_batch_size % t.microbatches == 0, "train.microbatches", t.microbatches,
             f"a divisor of data.global_batch_size={d.global_batch_size}")
    _require(c.every_steps >= 1, "checkpoint.every_steps", c.every_steps, ">= 1")
    _require(c.max_to_keep >= 1, "checkpoint.max_to_keep", c.max_to_keep, ">= 1")
    _require(d.kind in ("builtin_addition", "curriculum"), "data.kind", d.kind,
             "'builtin_addition' or 'curriculum'")
    _require(1 <= d.min_digits <= d.max_digits <= 20, "data.max_digits", d.max_digits,
             f"min_digits <= max_digits <= 20 (min_digits={d.min_digits})")
    vocab = 259  # the byte tokenizer's
    if d.kind == "curriculum":
        vocab = _validate_curriculum(d)
    mc = model_config(config)
    _require(mc.vocab_size >= vocab, "model.vocab_size", mc.vocab_size,
             f">= the tokenizer's {vocab}")
    _validate_eval(config.eval)
    if d.kind == "curriculum":
        gated = [k for k, st in enumerate(d.stages) if st.get("until")]
        _require(not gated or config.eval.every_steps > 0, "eval.every_steps",
                 config.eval.every_steps, f"> 0: data.stages[{gated[0] if gated else 0}] ends "
                 "on an eval metric (until), so the run must evaluate")
    return mc


def _validate_eval(e) -> None:
    from rtt_jax import tasks
    _require(e.every_steps >= 0, "eval.every_steps", e.every_steps, ">= 0 (0 turns it off)")
    for field in ("n_per_level", "max_new_tokens", "batch_size"):
        _require(e[field] >= 1, f"eval.{field}", e[field], ">= 1")
    _require(e.max_len > e.max_new_tokens, "eval.max_len", e.max_len,
             f"more than eval.max_new_tokens={e.max_new_tokens} (room for the prompt)")
    for name in e.families:
        _require(name in tasks.names(), "eval.families", tuple(e.families),
                 f"task families from {', '.join(tasks.names())}")
    for field in ("levels", "trained_levels"):
        spec = e[field]
        ok = spec in ("train", "all") or (not isinstance(spec, str) and
                                          all(isinstance(x, int) and x >= 1 for x in spec))
        _require(ok, f"eval.{field}", spec, '"train", "all" or a list of levels >= 1')


def _validate_curriculum(d) -> int:
    """Checks the curriculum fields without opening data files; returns the vocab size."""
    from rtt_jax import tasks
    from rtt_jax.data import curriculum, formatting, packing, sources
    _require(d.on_bad_record in sources.BAD_RECORD_POLICIES, "data.on_bad_record",
             d.on_bad_record, f"one of {sources.BAD_RECORD_POLICIES}")
    _require(isinstance(d.prefetch, int) and d.prefetch >= 0, "data.prefetch", d.prefetch,
             "an integer >= 0 (batches made ahead)")
    workers = d.get("worker_count", 0)
    _require(isinstance(workers, int) and not isinstance(workers, bool) and workers >= 0,
             "data.worker_count", workers, "an integer >= 0 (Grain worker processes; 0 = "
             "in-process)")
    p = d.packing
    _require(p.algorithm in packing.ALGORITHMS, "data.packing.algorithm", p.algorithm,
             f"one of {packing.ALGORITHMS}")
    _require(p.overflow in packing.POLICIES, "data.packing.overflow", p.overflow,
             f"one of {packing.POLICIES}")
    _require(isinstance(p.window, int) and p.window >= 1, "data.packing.window", p.window,
             "an integer >= 1 (examples per packing window)")
    _require(isinstance(p.get("shuffle_rows", True), bool), "data.packing.shuffle_rows",
             p.get("shuffle_rows"), "True or False")
    for name, s in d.sources.items():
        f = f"data.sources.{name}"
        _require(s.get("kind") in sources.KINDS, f + ".kind", s.get("kind"),
                 f"one of {sources.KINDS}")
        _require(s.get("mode", "trace") in formatting.MODES, f + ".mode", s.get("mode"),
                 f"one of {formatting.MODES}")
        if s.kind == "synthetic":
            _require(s.get("family") in tasks.names(), f + ".family", s.get("family"),
                     f"a task family among {', '.join(tasks.names())}")
        elif s.kind == "tfds":
            _require(bool(s.get("tfds_name")), f + ".tfds_name", s.get("tfds_name"),
                     "a TFDS dataset name")
        elif s.kind == "textbook":
            fams = [x.strip() for x in str(s.get("families") or "").split(",") if x.strip()]
            _require(all(x in tasks.names() for x in fams), f + ".families", s.get("families"),
                     f"comma-separated task families among {', '.join(tasks.names())}")
            _require(s.get("mode", "full") == "full", f + ".mode", s.get("mode"),
                     "'full' (textbook text is all target)")
        else:
            _require(bool(s.get("path")), f + ".path", s.get("path"), "a file or directory")
    _require(isinstance(d.stages, (list, tuple)) and len(d.stages) > 0, "data.stages",
             d.stages, "a list of stages {name, steps, mixture, levels}")
    for k, st in enumerate(d.stages):
        f = f"data.stages[{k}]"
        until = st.get("until")
        steps = st.get("steps")
        if until:
            try:
                gate = curriculum.parse_gate(until, steps, f"config.{f}")
            except ValueError as e:
                raise ConfigError(str(e)) from None
            _require(k < len(d.stages) - 1, f + ".until", dict(until),
                     "a gate on a stage before the last (the last stage runs to the end)")
            steps = gate.max_steps
        _require(isinstance(steps, int) and steps >= 1, f + ".steps",
                 st.get("steps"), "a positive number of steps")
        mix = dict(st.get("mixture") or {})
        _require(bool(mix) and all(w >= 0 for w in mix.values()) and sum(mix.values()) > 0,
                 f + ".mixture", mix, "non-negative weights over sources, not all zero")
        unknown = sorted(set(mix) - set(d.sources.keys()))
        _require(not unknown, f + ".mixture", mix, f"names among data.sources {sorted(d.sources.keys())}")
        for src, spec in dict(st.get("levels") or {}).items():
            try:
                curriculum.parse_levels(spec, f"config.{f}.levels.{src}")
            except ValueError as e:
                raise ConfigError(str(e)) from None
    from rtt_jax.data.pipeline import make_tokenizer
    try:
        return make_tokenizer(d.tokenizer).vocab_size
    except ValueError as e:
        raise ConfigError(f"config.data.tokenizer={d.tokenizer!r}: {e}") from None
