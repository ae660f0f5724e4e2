"""(a) Traces vs answer-only: does training on step-by-step traces beat
training on the final answers alone, at equal compute?

Arms (same prompts, same problems, same token positions):

* ``traces``: loss on the trace and the ``#### answer`` line;
* ``answer_only``: the completion is just the ``#### answer`` line (the
  no-trace baseline; ``rtt_jax.data.formatting``).

The task is ``modular`` (``_common.TASK``): the last digit of a chain of
one-digit additions and subtractions, trained on chains of 2 to 9 digits
(levels 1-8). Its answer depends on every digit, so answers alone have no
shortcut (chance 10%), while every trace line is one exact operation on two
digits. Both arms are evaluated on held-out problems at the trained levels
and at three harder ones (9, 10, 12). ``make demo`` runs the ``cpu`` variant,
3 seeds per arm. ``logic_traces_vs_answer`` is the same comparison on a task
where answers alone get most of the way (80% against the traces' 88%).
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment

EXPERIMENT = Experiment(
    name="traces_vs_answer",
    claim="Training on step-by-step traces beats training on answers alone.",
    arms=(Arm("traces", {}, "loss on trace + answer"),
          Arm("answer_only", {"data.sources.task.mode": "answer_only"}, "loss on the answer only")),
    baseline="answer_only", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2)})



def _cpu():
    return _common.one_task_source(_common.cpu_config(**_common.CPU_BUDGET), _common.TASK)


def _tpu():
    return _common.one_task_source(_common.tpu_config(steps=20_000), _common.TPU_TASK)


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
