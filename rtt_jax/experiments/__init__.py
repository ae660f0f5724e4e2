"""Experiments: the method's claims as arms x seeds under one budget.

``python -m rtt_jax.experiments.run --experiment=NAME --variant=cpu --out=DIR``;
experiment files live in ``configs/experiments/`` (see ``definition``); ``run``
is the command line and ``run_experiment``; ``plan`` lists the runs and
steps with their commands, ``inputs`` checks that every file they read can
be had (``rtt_jax.external_data`` names the data that does not ship),
``execute`` runs them (locally or on a TPU slice),
``results`` collects them into ``results.json``, rendered by ``tables`` and
``plots``. ``distill_traces`` and ``star_round`` are the distillation and
self-improvement experiments' steps. ``lee2023_report`` reproduces a published table.
``python -m rtt_jax.experiments.sweep`` runs one arm over a grid of config
values (learning rate, depth, steps) through the same runner, for the recipes.
"""
from rtt_jax.experiments.definition import Arm, Experiment, ExperimentError, Step, apply_overrides

__all__ = ["Arm", "Experiment", "ExperimentError", "Step", "apply_overrides"]
