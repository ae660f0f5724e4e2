"""Look at what a config trains on: the mixture per stage and decoded examples.

    python -m rtt_jax.data.preview --config=configs/base.py:tiny [--stage=K] [--n=5]

Prints, for each stage (or only stage K): its steps (and mastery gate), its
Grain mixture (configured weight, levels, and the share of the first 2,000
examples the lanes draw), then the first ``n`` of those examples
decoded with the loss-masked (target) tokens in ``[[...]]``, and the pack
stats of the stage's first batch. Special tokens print as <BOS>/<EOS>. A bad
flag, config or data file is one error line (``--verbosity=1``: with the
traceback; ``rtt_jax.cli_errors``).
"""
from __future__ import annotations

import collections

from absl import app, flags
from ml_collections import config_flags

from rtt_jax import cli_errors


def _define_flags():
    """Flags are defined only when run as a program, so importing ``describe``
    (tests, notebooks) never clashes with another module's ``--config``."""
    config = config_flags.DEFINE_config_file("config", None, "Config file[:variant].",
                                             lock_config=True)
    stage = flags.DEFINE_integer("stage", -1, "Only this stage (0-based); -1: every stage.")
    n = flags.DEFINE_integer("n", 5, "Examples to print per stage.")
    flags.mark_flags_as_required(["config"])
    return config, stage, n


def mark_targets(tokens, loss_mask, tokenizer) -> str:
    """Decoded text with each run of target tokens wrapped in ``[[...]]``."""
    out, run, in_target = [], [], False

    def flush():
        text = "".join(_piece(t, tokenizer) for t in run)
        out.append(f"[[{text}]]" if in_target else text)

    for t, m in zip(tokens, loss_mask):
        if bool(m) != in_target:
            flush()
            run, in_target = [], bool(m)
        run.append(int(t))
    flush()
    return "".join(out)


def _piece(t: int, tokenizer) -> str:
    if t == tokenizer.bos_id:
        return "<BOS>"
    if t == tokenizer.eos_id:
        return "<EOS>"
    return tokenizer.decode([t])


def describe(config, stage: int = -1, n: int = 5) -> str:
    import grain
    from rtt_jax.data.curriculum import Curriculum
    from rtt_jax.data.lane_packing import first_indices
    from rtt_jax.data.pipeline import CurriculumData
    from rtt_jax.data.spec import data_spec
    from rtt_jax.data.tokenizer import make_tokenizer
    if n < 0:
        raise ValueError(f"--n={n}: expected >= 0")
    d = data_spec(config.data, config.seed)
    tok = make_tokenizer(d.tokenizer)
    cur = Curriculum.from_spec(d, tok)
    if stage >= len(cur.stages):
        raise ValueError(f"--stage={stage}: the config has {len(cur.stages)} stages "
                         f"(0..{len(cur.stages) - 1})")
    lines = []
    for s, st in enumerate(cur.stages):
        if stage >= 0 and s != stage:
            continue
        first = sum(x.steps for x in cur.stages[:s])
        lines.append(f"== stage {s} {st.name!r}: steps {first + 1}..{first + st.steps}"
                     f"{' (and on, the last stage)' if s == len(cur.stages) - 1 else ''}"
                     + (f"; ends early when {st.until.metric} >= {st.until.at_least:g}"
                        if st.until else ""))
        draws = cur.drawn(s)
        first = first_indices(max(2000, n), d.global_batch_size, d.packing.window)
        drawn = collections.Counter(draws[i][0] for i in first[:2000])
        for name, lv in zip(st.sources, st.levels):
            lines.append(f"   {name:<16} weight {st.weights[name]:.3f}  drawn {drawn[name] / 2000:.3f}"
                         f"  levels {','.join(map(str, lv))}")
        examples = cur.examples(s)
        for j, i in enumerate(first[:n]):
            name, level, _ = draws[i]
            ex = examples[i]
            lines.append(f"-- example {j}: {name} level {level}, {len(ex)} tokens, "
                         f"{ex.num_targets} targets")
            lines.append(mark_targets(ex.tokens, ex.loss_mask, tok))
        one = CurriculumData(cur, d.global_batch_size, d.seq_len, window=d.packing.window,
                             algorithm=d.packing.algorithm, overflow=d.packing.overflow,
                             shuffle_rows=d.packing.shuffle_rows,
                             shard_options=grain.sharding.NoSharding())
        one.start_stage(s)
        _, m = next(one)
        one.close()
        lines.append("-- first batch: " + ", ".join(
            f"{k[5:]}={v:g}" for k, v in m.items()
            if k[5:] in ("rows", "placed_tokens", "pad_tokens", "padding_fraction",
                         "lost_tokens", "split_examples", "truncated_examples")))
    return "\n".join(lines)


if __name__ == "__main__":
    _config, _stage, _n = _define_flags()
    app.run(lambda argv: cli_errors.run_reporting(
                lambda: print(describe(_config.value, _stage.value, _n.value))),
            flags_parser=cli_errors.flags_parser(_config))
