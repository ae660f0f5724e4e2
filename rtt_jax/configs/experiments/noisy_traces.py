"""(d) Clean traces vs traces with 10% and 30% injected errors.

A share of the training traces gets one wrong step (a step's number changed,
the final answer left as it was: like the corrupted scratchpads of Lee et al.
2023; ``rtt_jax.traces.noise``). The claim is that flawed traces teach
flawed reasoning: step validity (and answers) should fall as noise rises.
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment


def _noisy(rate: float) -> Arm:
    return Arm(f"noisy_{round(rate * 100)}", {"data.sources.task.noise_wrong_step": rate},
               f"{rate:.0%} of traces with one wrong step")


EXPERIMENT = Experiment(
    name="noisy_traces",
    claim="Flawed traces teach flawed reasoning: clean traces beat noisy ones.",
    arms=(Arm("clean", {}, "verified program traces"), _noisy(0.1), _noisy(0.3)),
    baseline="clean", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2)})



def _cpu():
    return _common.one_task_source(_common.cpu_config(**_common.CPU_BUDGET), _common.TASK)


def _tpu():
    return _common.one_task_source(_common.tpu_config(steps=20_000), _common.TPU_TASK)


def get_config(arg="cpu/clean"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
