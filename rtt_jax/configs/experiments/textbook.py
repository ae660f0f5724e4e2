"""(c) With vs without textbook data, at equal compute.

``with_textbook``: a quarter of the *token positions* are textbook sections
about the task's skill (``rtt_jax.textbook``: definitions, worked examples,
pitfalls, exercises; loss on every token), the rest the task's traces.
``traces_only``: traces alone. Same token positions, so the textbook arm
trades a quarter of its trace tokens for textbook tokens: the question is
whether that trade helps accuracy and step validity, above all at the harder
levels.

Curriculum mixtures weight *examples*, and a modular section is ~27x longer
than a trace (2,055 against 77 tokens on average at levels 1-8), so the
example weight that gives a quarter of the tokens is ~1.2%. The first build
mixed a quarter of the *examples*: 93% of the positions were textbook, and
the trace model never learned the task (9.2% against 97.0%, 3 seeds).
The task is ``_common.TASK`` (modular sums; textbook sections on the same
skill: definitions, worked examples, a mistake shown and corrected).
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment

TEXTBOOK_SHARE = 0.25  # of token positions
# Mean example lengths (tokens) the mixture weight is computed from; checked
# against the packed batches by tests/test_experiments.py.
SECTION_TOKENS, TRACE_TOKENS = 2055, 77


def textbook_example_weight(share: float = TEXTBOOK_SHARE) -> float:
    """The share of examples that makes ``share`` of the tokens textbook."""
    ratio = share / (1 - share) * TRACE_TOKENS / SECTION_TOKENS
    return ratio / (1 + ratio)


def _data(c, task):
    c.data.sources = dict(task=_common.source(family=task["family"], styles=task["style"]),
                          textbook=_common.source(kind="textbook", families=task["family"],
                                                  mode="full"))
    w = textbook_example_weight()
    c.data.stages = _common.stages_one(dict(task=1.0 - w, textbook=w),
                                       dict(task=task["train_levels"],
                                            textbook=task["train_levels"]))
    return _common.task_eval(c, task)


EXPERIMENT = Experiment(
    name="textbook",
    claim="Adding textbook-quality data helps (at equal compute).",
    arms=(Arm("with_textbook", {}, f"{TEXTBOOK_SHARE:.0%} of the tokens textbook sections"),
          Arm("traces_only", {"data.stages.0.mixture": {"task": 1.0}}, "traces alone")),
    baseline="traces_only", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2)})


def _cpu():
    return _data(_common.cpu_config(**_common.CPU_BUDGET), _common.TASK)


def _tpu():
    return _data(_common.tpu_config(steps=20_000), _common.TPU_TASK)


def get_config(arg="cpu/with_textbook"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu))
