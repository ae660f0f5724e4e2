"""(g) Distillation: can a larger model's verified traces teach a smaller one?

A teacher about 4x the student's parameters (``teacher``: 4 layers of
d=192 against the student's 2 of d=128) is trained on program traces of
modular sums at levels 1-8 (``_common.TASK``). Step ``sample_teacher``
(``rtt_jax.experiments.distill_traces``) then serves it with
``python -m rtt_jax.serve`` and samples traces for fresh problems through the
OpenAI-compatible teacher client (``traces.build`` with
``configs/traces/openai.py``, ``prompt="plain"``), keeping only those whose
answer and every step verify. Students of the recipe's size then train, at
equal token budgets and 3 seeds, on

* ``teacher_traces``: the teacher's verified traces (a finite dataset, read
  in epochs);
* ``program_traces``: program traces of fresh problems (the baseline);
* ``answer_only``: the answers alone.

The report gives the teacher's acceptance per level (the step's table) and
the students' accuracy and step validity per level.

    python -m rtt_jax.experiments.run --experiment=distill --variant=cpu --out=DIR --parallel=2
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment, Step

TRACES = "data.sources.task"


def _teacher_traces_source(c):
    return dict(c.data.sources.task) | dict(kind="traces", path="(set by run_sets)",
                                            styles="", family="")


EXPERIMENT = Experiment(
    name="distill",
    claim="A larger model's verified traces teach a smaller model as well as program traces.",
    arms=(Arm("teacher", {"model.d_model": 192, "model.n_layers": 4, "model.n_heads": 4},
              "the teacher: ~4x the student's parameters, program traces",
              seeds={"cpu": (0,), "tpu": (0,), "smoke": (0,)}, in_budget=False),
          Arm("teacher_traces", {TRACES: _teacher_traces_source, "data.stages.0.levels": {}},
              "student on the teacher's verified traces", needs=("sample_teacher",),
              run_sets={f"{TRACES}.path": "{step:sample_teacher}/traces"}),
          Arm("program_traces", {}, "student on program traces"),
          Arm("answer_only", {f"{TRACES}.mode": "answer_only"}, "student on answers alone")),
    steps=(Step("sample_teacher", "rtt_jax.experiments.distill_traces",
                dict(config="{experiment}:{variant}/teacher", workdir="{runs}/teacher/seed_0",
                     family=_common.TASK["family"], style=_common.TASK["style"],
                     levels={"cpu": _common.TASK["train_levels"], "tpu": "1-12", "smoke": "1"},
                     problems_per_level={"cpu": "250", "tpu": "2000", "smoke": "8"}, k="2",
                     temperature="0.7", max_tokens="112"),
                needs=("teacher",), per_seed=False,
                description="serve the teacher; sample, verify and keep traces"),),
    baseline="program_traces", budget="tokens",
    seeds={"cpu": (0, 1, 2), "tpu": (0, 1, 2), "smoke": (0,)})


def _cpu():
    return _common.one_task_source(_common.cpu_config(**_common.CPU_BUDGET), _common.TASK)


def _tpu():
    return _common.one_task_source(_common.tpu_config(steps=20_000), _common.TPU_TASK)


def _smoke():
    """A check that the pipeline runs end to end in about a minute (tests)."""
    c = _common.smoke_config(_cpu(), levels=[1])
    c.data.stages[0]["levels"] = dict(task="1")
    return c


def get_config(arg="cpu/program_traces"):
    variant = (arg or "cpu").partition("/")[0]
    config = EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu, smoke=_smoke))
    if arg and arg.endswith("/teacher"):
        if variant == "tpu":  # ~4x the 85M student
            config.model.update(d_model=1024, n_layers=24, n_heads=16, n_kv_heads=4)
        elif variant == "smoke":  # enough to write some level-1/2 traces that verify
            config.model.update(d_model=64, n_layers=2)
            config.train.update(steps=800, learning_rate=3e-3, warmup_steps=20)
            config.checkpoint.every_steps = 800
    return config
