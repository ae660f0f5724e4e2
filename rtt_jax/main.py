"""Entry point: flags -> config -> train | eval | compile_only | print_config.

    python -m rtt_jax.main --config=configs/base.py:tiny --workdir=/tmp/w \
        [--mode=train|eval|train_eval] [--config.train.steps=100]
    python -m rtt_jax.main --mode=eval --workdir=/tmp/w      # the run's own config
    python -m rtt_jax.main --mode=compile_only --config=configs/base.py:1b
    python -m rtt_jax.main --mode=print_config --config=configs/base.py:tiny [--config.x=v]

Training writes the resolved config to ``W/config.json``
(``rtt_jax.workdir_config``), so ``--workdir`` alone names the config for
every mode: eval, and a resume. A ``--config`` given as well wins; for eval,
one that changes the model or tokenizer the checkpoint was trained with is
an error. ``--config=configs/workdir.py:W --config.eval.n_per_level=500``
overrides fields of the saved config. print_config prints the resolved
config (``--config`` with its overrides, else the workdir's) as that JSON,
then checks it.

The config is checked once, here (``config_validation.validate``), into the
pieces the parts take; a bad field stops the run with one line before any
work. compile_only (no --workdir) lowers and compiles the train step for the
config's target topology on this machine and prints per-device memory
against the chip's HBM (rtt_jax/train/compile_only.py).

Multi-host: pass --distributed (or set RTT_JAX_DISTRIBUTED=1, or
config.distributed.initialize=True) to call jax.distributed.initialize()
(``rtt_jax.process_setup``, shared with ``rtt_jax.rl``).
"""
from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from rtt_jax import cli_errors, process_setup

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file[:variant].", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (local path or gs://).")
_MODE = flags.DEFINE_enum("mode", "train",
                          ["train", "eval", "train_eval", "compile_only", "print_config"],
                          "What to run: train, evaluate the latest checkpoint, both in turn, "
                          "compile the train step for the target topology (no run), or print "
                          "the resolved config.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize().")


def main(argv) -> int:
    del argv
    process_setup.quiet_libraries()
    from rtt_jax import workdir_config
    from rtt_jax.config_validation import ConfigError, validate
    try:  # once, before any work; starts no JAX backend
        config = workdir_config.resolve(_CONFIG.value, _WORKDIR.value,
                                        check_bound=_MODE.value == "eval")
        if _MODE.value == "print_config":
            print(workdir_config.to_json(config), end="")
        spec = validate(config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if _MODE.value == "print_config":
        return 0
    if _MODE.value == "compile_only":  # before jax starts a backend: this picks its devices
        from rtt_jax.train import compile_only
        try:
            return compile_only.main(spec, sys.argv)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    try:  # before jax starts a backend: a workdir that is a file or read-only fails fast
        cli_errors.make_output_dir(_WORKDIR.value, "--workdir")
    except (OSError, ValueError) as e:
        return cli_errors.report(e)
    from rtt_jax.train import gpu_determinism
    gpu_determinism.request(config.train.gpu_deterministic)  # before the backend starts
    process_setup.maybe_initialize_distributed(config, _DISTRIBUTED.value)
    import jax
    from rtt_jax.evaluation.during_training import make_periodic_eval
    from rtt_jax.train.loop import train
    from rtt_jax.train_and_evaluate import train_then_evaluate
    logging.info("process %d of %d; %d devices; backend %s", jax.process_index(),
                 jax.process_count(), jax.device_count(), jax.default_backend())
    return train_then_evaluate(
        spec, _WORKDIR.value, _MODE.value,
        lambda: train(spec, _WORKDIR.value,
                      make_eval=lambda layout: make_periodic_eval(spec, layout)),
        spec.config.train.steps, "step",
        lambda last: f"loss {last.get('loss', float('nan')):.4f}")


if __name__ == "__main__":
    # Flag and config-file errors are one line too (cli_errors.flags_parser).
    app.run(main, flags_parser=cli_errors.flags_parser(_CONFIG))
