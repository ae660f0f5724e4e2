"""Experiments: the method's claims as arms x seeds under one budget.

``python -m rtt_jax.experiments.run --experiment=NAME --variant=cpu --out=DIR``;
experiment files live in ``configs/experiments/`` (see ``spec``), runs are
executed by ``runner``, collected by ``results`` into ``results.json`` and
rendered by ``tables`` and ``plots``. ``lee2023`` reproduces a published table.
``python -m rtt_jax.experiments.sweep`` runs one arm over a grid of config
values (learning rate, depth, steps) through the same runner, for the recipes.
"""
from rtt_jax.experiments.spec import Arm, Experiment, ExperimentError, Step, apply_overrides

__all__ = ["Arm", "Experiment", "ExperimentError", "Step", "apply_overrides"]
