"""Reinforcement from verified steps: GRPO with the family checkers as rewards.

    python -m rtt_jax.rl --config=configs/base.py:tiny --workdir=W --init_from=SFT_WORKDIR \
        [--mode=train|eval|train_eval] [--config.rl.reward=process] [--config.rl.steps=50]

Starts the policy from the newest verified params of ``--init_from`` (the
same as ``--config.train.init_from``; a resumed run keeps the step it first
started from), samples ``rl.group_size`` completions per prompt from the
curriculum's synthetic sources and levels (``data.stages``), rewards them
with the families' checkers and updates with GRPO (``rtt_jax/rl/loop.py``;
usage and fields: docs/rl.md). ``--mode=train_eval`` then evaluates the
final policy on ``config.eval`` exactly as ``rtt_jax.main --mode=eval``
does (``W/report.json``), so an experiment arm can be an RL run.

A bad field or flag is one line, ``error: ...``, before any work.
"""
from __future__ import annotations

import sys

from absl import app, flags
from ml_collections import config_flags

from rtt_jax import cli_errors, process_setup

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file[:variant].",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "RL run directory (local path or gs://).")
_INIT_FROM = flags.DEFINE_string("init_from", None, "Workdir of the run to start from "
                                 "(sets config.train.init_from).")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval", "train_eval"],
                          "Train with GRPO, evaluate the latest checkpoint, or both in turn.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv) -> int:
    del argv
    process_setup.quiet_libraries()
    config = _CONFIG.value
    if _INIT_FROM.value is not None:
        config.train.init_from = _INIT_FROM.value
    from rtt_jax.config_validation import ConfigError, validate
    from rtt_jax.rl.spec import rl_spec
    training = _MODE.value in ("train", "train_eval")
    try:  # once, before any work; starts no JAX backend
        spec = validate(config)
        rl = rl_spec(config) if training else None
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        cli_errors.make_output_dir(_WORKDIR.value, "--workdir")
    except (OSError, ValueError) as e:
        return cli_errors.report(e)
    from rtt_jax.train import gpu_determinism
    gpu_determinism.request(config.train.gpu_deterministic)  # before the backend starts
    process_setup.maybe_initialize_distributed(config)
    from rtt_jax.evaluation.during_training import make_periodic_eval
    from rtt_jax.rl.loop import train_rl
    from rtt_jax.train_and_evaluate import train_then_evaluate
    return train_then_evaluate(
        spec, _WORKDIR.value, _MODE.value,
        lambda: train_rl(spec, rl, _WORKDIR.value,
                         make_eval=lambda layout: make_periodic_eval(spec, layout)),
        rl.steps if training else 0, "iteration",
        lambda last: (f"reward {last.get('reward', float('nan')):.4f} accuracy "
                      f"{last.get('accuracy', float('nan')):.4f}"))


if __name__ == "__main__":
    app.run(main, flags_parser=cli_errors.flags_parser(_CONFIG))
