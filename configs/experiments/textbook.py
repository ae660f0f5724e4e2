"""(c) With vs without textbook data, at equal compute.

``with_textbook``: a quarter of the examples are textbook sections about the
task's skill (``rtt_jax.textbook``: definitions, worked examples, pitfalls,
exercises; loss on every token), the rest are the task's traces.
``traces_only``: traces alone. Same token positions, so the textbook arm
trades some trace tokens for textbook tokens: the question is whether that
trade helps accuracy and step validity, above all at the harder levels.
The task is ``_common.TASK`` (modular sums; textbook sections on the same
skill: definitions, worked examples, a mistake shown and corrected).
"""
from configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment

TEXTBOOK_SHARE = 0.25


def _data(c, task):
    c.data.sources = dict(task=_common.source(family=task["family"], styles=task["style"]),
                          textbook=_common.source(kind="textbook", families=task["family"],
                                                  mode="full"))
    c.data.stages = _common.stages_one(dict(task=1.0 - TEXTBOOK_SHARE, textbook=TEXTBOOK_SHARE),
                                       dict(task=task["train_levels"],
                                            textbook=task["train_levels"]))
    return _common.task_eval(c, task)


EXPERIMENT = Experiment(
    name="textbook",
    claim="Adding textbook-quality data helps (at equal compute).",
    arms=(Arm("with_textbook", {}, f"{TEXTBOOK_SHARE:.0%} textbook sections"),
          Arm("traces_only", {"data.stages.0.mixture": {"task": 1.0}}, "traces alone")),
    baseline="traces_only", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2)})


def _cpu():
    return _data(_common.cpu_config(**_common.CPU_BUDGET), _common.TASK)


def _tpu():
    return _data(_common.tpu_config(steps=20_000), _common.TPU_TASK)


def get_config(arg="cpu/with_textbook"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
