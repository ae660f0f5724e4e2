"""How a training command ends (``rtt_jax.main``, ``rtt_jax.rl``): train,
say whether the run finished, evaluate the workdir unless training stopped
early, and turn the errors a user can cause into one line and exit code 1.

A run preempted by SIGTERM returns before its last step with its checkpoint
saved: it is not done, so it writes no report.json (the experiment runner
takes a report as "complete") and says to rerun the same command.
"""
from __future__ import annotations

import sys
from typing import Callable, Mapping

from rtt_jax import cli_errors
from rtt_jax.config_error import ConfigError


def train_then_evaluate(spec, workdir: str, mode: str, train: Callable[[], Mapping],
                        steps: int, unit: str, describe: Callable[[Mapping], str]) -> int:
    """``mode``: "train", "eval" or "train_eval". ``train()`` runs training
    and returns its last logged metrics (with ``step``); ``steps`` is where
    it should end; ``unit`` names a step in the messages ("step",
    "iteration"); ``describe(last)`` the figures of the "done" line.
    Returns the process's exit code."""
    import jax
    from rtt_jax.data.sources import BadRecordError
    from rtt_jax.train.checkpoint import CheckpointError
    from rtt_jax.train.loop import NonFiniteLossError
    from rtt_jax.train.workdir_lock import WorkdirLockedError
    try:
        stopped_early = False
        if mode in ("train", "train_eval"):
            last = train()
            stopped_early = last.get("step", steps) < steps
            if jax.process_index() == 0:
                print(f"stopped early at {unit} {last.get('step')} of {steps}: checkpoint saved; "
                      f"rerun the same command to continue (not evaluating)" if stopped_early
                      else f"done: {unit} {last.get('step')} {describe(last)}")
        if mode == "eval" or (mode == "train_eval" and not stopped_early):
            from rtt_jax.evaluation.standalone import evaluate_workdir
            evaluate_workdir(spec, workdir)
    except (ConfigError, CheckpointError, NonFiniteLossError, BadRecordError,
            WorkdirLockedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a full disk, a workdir made read-only mid-run: name the path
        return cli_errors.report(e, workdir)
    return 0
