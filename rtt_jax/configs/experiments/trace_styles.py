"""(e) One trace style vs several ways of thinking.

``one_style``: every trace in the task's main style. ``several_styles``: the
same problems, each solved in one of two styles at random (half each). Both
are evaluated prompting for the main style, at the trained levels and three
harder: does having seen another way of thinking help the main one
generalise? (The several-styles arm sees half as many main-style traces.)
On ``_common.TASK`` (modular sums) the styles are ``running`` (a running
total) and ``pairwise`` (a balanced tree of pair sums).
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment



EXPERIMENT = Experiment(
    name="trace_styles",
    claim="Several ways of thinking generalise better than one canonical method.",
    arms=(Arm("one_style", {}, f"{_common.TASK['style']} only"),
          Arm("several_styles",
              {"data.sources.task.styles": f"{_common.TASK['style']},{_common.TASK['other_style']}"},
              f"{_common.TASK['style']} and {_common.TASK['other_style']}")),
    baseline="one_style", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2)})


def _cpu():
    return _common.one_task_source(_common.cpu_config(**_common.CPU_BUDGET), _common.TASK)


def _tpu():
    return _common.one_task_source(_common.tpu_config(steps=20_000), _common.TPU_TASK)


def get_config(arg="cpu/one_style"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
