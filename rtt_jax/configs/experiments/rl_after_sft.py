"""(i) Reinforcement after supervision: GRPO with the checkers as rewards,
against more supervised training at equal compute.

Phase 1, ``sft``: the recipe's model learns modular sums at levels 1-4 from
program traces (``running`` style), a short budget. Phase 2 starts three
arms from its checkpoint (``train.init_from``), at equal planned FLOPs
(``budget="flops"``: an RL iteration counts the forward passes that sample
its completions, the reference's forward pass and the update's forward and
backward passes, as if every completion ran to ``rl.max_new_tokens``,
``rtt_jax.rl.accounting``; the supervised arm gets the steps of the same
FLOPs, so the bound errs in its favour):

* ``continued_sft`` (baseline): more program traces of levels 1-4 (fresh
  problems: the source has another name), the supervised data we have;
* ``grpo_outcome``: GRPO (``python -m rtt_jax.rl``) on prompts of levels
  1-6, reward 1 for the right answer;
* ``grpo_process``: the same with the process reward, the answer plus the
  share of valid grounded steps.

Levels 5-6 have no traces here, only a checker: the question is whether
reinforcement from a verifier reaches where supervision stops. Every arm is
evaluated greedily at levels 1-8 (levels 7-8: neither phase saw them).

Prediction (written before the runs): SFT at levels 1-4 leaves levels 5-6
near chance (10%), as every model of the earlier experiments failed to
extrapolate to longer chains; continued SFT stays there. Sampling at
temperature 1 sometimes writes the fifth and sixth lines right, and GRPO
reinforces them: grpo_outcome beats continued_sft by >= 20 points at
levels 5-6 (the issue's goal); grpo_process, paid for every valid step, has
denser signal and reaches higher step validity than grpo_outcome at about
equal accuracy. Outcome-only training may also reward right answers after
wrong steps (``right_answer_invalid_steps`` in metrics.jsonl); at 10%
chance per lucky answer this should stay small. Levels 7-8 stay near chance
for every arm.

    python -m rtt_jax.experiments.run --experiment=rl_after_sft --variant=cpu --out=DIR --parallel=2
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.experiments import Arm, Experiment
from rtt_jax.rl import accounting

TASK = dict(_common.TASK, train_levels="1-4", eval_levels=list(range(1, 9)),
            trained_levels=[1, 2, 3, 4])
RL_LEVELS = "1-6"
SFT_RUN = "{runs}/sft/seed_{seed}"

# Phase 1's budget, and phase 2's (in RL iterations; continued_sft's steps
# follow from it), per variant: docs/recipes.md, "rl_after_sft".
CPU = dict(sft_steps=1500, rl_steps=200, rl_lr=3e-5, sft_lr=1e-3)
SMOKE = dict(sft_steps=40, rl_steps=10, rl_lr=1e-4, sft_lr=1e-3)


def _equal_flops_steps(c) -> int:
    """continued_sft's steps: the RL arms' planned FLOPs / one training step's."""
    per_step = accounting.train_run_flops(c) / c.train.steps
    return max(1, round(accounting.rl_run_flops(c) / per_step))


def _more_traces(c):
    """The same task under another source name: fresh problems, same levels."""
    return dict(more=dict(c.data.sources.task))


def _stages_more(c):
    return _common.stages_one(dict(more=1.0), dict(more=TASK["train_levels"]))


def _rl_stages(c):
    return _common.stages_one(dict(task=1.0), dict(task=RL_LEVELS))


def _rl_arm(name: str, reward: str, description: str) -> Arm:
    # Every iteration logged: the reward and accuracy curves are the result.
    return Arm(name, {"data.stages": _rl_stages, "rl.reward": reward,
                      "train.log_every_steps": 1,
                      "checkpoint.every_steps": lambda c: max(c.rl.steps // 4, 1)}, description,
               needs=("sft",), module="rtt_jax.rl", args={"init_from": SFT_RUN})


EXPERIMENT = Experiment(
    name="rl_after_sft",
    claim="GRPO with the checkers as rewards reaches levels that supervision on the "
          "available traces does not, at equal compute.",
    arms=(Arm("sft", {}, "phase 1: program traces, levels 1-4", in_budget=False),
          Arm("continued_sft", {"data.sources": _more_traces, "data.stages": _stages_more,
                                "train.steps": _equal_flops_steps},
              "more program traces of levels 1-4 from the sft checkpoint", needs=("sft",),
              run_sets={"train.init_from": SFT_RUN}),
          _rl_arm("grpo_outcome", "outcome", "GRPO at levels 1-6, reward: the right answer"),
          _rl_arm("grpo_process", "process",
                  "GRPO at levels 1-6, reward: the answer plus the share of valid steps")),
    baseline="continued_sft", budget="flops",
    seeds={"cpu": (0, 1, 2), "smoke": (0,)})


def _variant(c, v: dict, rl: dict):
    c = _common.one_task_source(c, TASK)
    c.train.learning_rate = v["sft_lr"]
    c.rl.update(steps=v["rl_steps"], learning_rate=v["rl_lr"], **rl)
    return c


def _cpu():
    c = _common.cpu_config(steps=CPU["sft_steps"], seq_len=256, batch=4)
    return _variant(c, CPU, dict(prompts_per_step=8, group_size=8, max_new_tokens=64,
                                 seq_len=128, temperature=1.0, kl_coef=0.0))


def _smoke():
    """A check that both phases run end to end in about a minute (tests)."""
    c = _common.smoke_config(_common.cpu_config(steps=SMOKE["sft_steps"]), levels=[1, 2, 5],
                             steps=SMOKE["sft_steps"])
    c = _variant(c, SMOKE, dict(prompts_per_step=2, group_size=4, max_new_tokens=24,
                                seq_len=80, temperature=1.0))
    c.eval.update(levels=[1, 2, 5], trained_levels=[1, 2])
    return c


def get_config(arg="cpu/sft"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, smoke=_smoke))

