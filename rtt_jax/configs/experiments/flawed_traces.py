"""Flawed traces encode flawed reasoning, and filtering repairs it.

The old ``noisy_traces`` ablation changed a random digit in a random line of
10% or 30% of the traces and found nothing (-6.0 and -2.7 points, n.s.):
independent random errors point nowhere, and a model averages them out.
Here the flaw is a *systematic misconception* (``rtt_jax.traces.
misconception``, ``abs_diff``): an author who writes a negative difference
as the distance, ``2-9=7`` instead of ``2-9=-7``, every time it comes up,
and carries on consistently from it. It applies to 61% of the problems at
levels 1-8 (a subtraction that goes below zero, other than by exactly 5).

Arms (``_common.TASK``: modular sums, ``running`` style, levels 1-8; each a
pool of 2,000 problems per level, about one epoch at this budget, written by
the ``pools`` step from the same problems for every arm):

* ``clean`` (baseline): every trace correct;
* ``bug_30`` / ``bug_60``: the misconceived author wrote 30% / 60% of the
  traces the bug applies to;
* ``bug_60_steps``: ``bug_60`` filtered by the step checker (a trace is kept
  only when its answer is right and every step is valid and grounded), the
  dropped problems replaced by further ones (topped up to the same size);
* ``bug_60_answer``: filtered by the answer alone and topped up: the buggy
  traces whose errors cancel mod 10 pass (19% of the pool's bug-applicable
  lines stay buggy);
* ``retry_60``: in the same 60%, each line the author gets wrong is written
  wrong, then ``[retry]``, then right (Physics of LMs 2.2's retry data).

Metrics (``eval.misconception``; ``evaluation.probes``): on held-out
problems where the bug applies (``bug_applies``), the share of the lines the
model writes where it applies that are buggy (greedy samples, in the text it
stands by once retracted lines are set aside: ``eval.retry_marker`` is set
for every arm), and from log-probabilities the probability it puts on the
buggy result against the correct ones, teacher-forced on the correct trace;
accuracy there, and on the control set where the bug never applies; the
usual accuracy by level.

Prediction (written before any run): a systematic flaw is learned in
proportion to its share. ``bug_60`` writes the buggy line in most applicable
places (greedy sample rate > 50%, log-prob share near 0.6) and loses
accuracy on ``bug_applies`` (>= 30 points) but not on the control set
(within its MDE of ``clean``); ``bug_30`` puts roughly 0.3 on the buggy
result but greedy decoding mostly hides it (sample rate < 20%, accuracy loss
< 10 points). Step filtering repairs it fully (``bug_60_steps`` within the
MDE of ``clean`` on every metric); answer filtering repairs most of it (a
log-prob share around 0.15-0.2, below ``bug_30``'s). ``retry_60`` keeps the
belief in its log-probabilities (near 0.6: it was trained to write the wrong
line first) but retracts it in samples, so its final accuracy is within the
MDE of ``clean``'s and its retracted buggy lines are many.

    python -m rtt_jax.experiments.run --experiment=flawed_traces --variant=cpu --parallel=2 \\
        --out=workdirs/flawed_traces

Result (5 paired seeds; docs/results.md, "flawed_traces"): held for
``bug_60`` (83% of applicable lines buggy, P(buggy) 0.76, -77.1 points
where the bug applies, control within its MDE) and for answer filtering
(0.3% buggy lines, P(buggy) 0.09, accuracy +0.3 [-8.0, +8.6] from
``clean``: better than predicted). ``bug_30`` lost more than predicted
(-13.7 [-21.9, -5.5], 14% of lines buggy). Step filtering removed every
buggy line and all of the belief (P 0.00), but one seed of five did not
learn the task at this budget (27%), so its accuracy interval is wide
(-7.9 [-40.0, +24.2]). ``retry_60`` failed the prediction: it retracts,
yet loses 38.2 points where the bug applies and 9.7 on the control set.
"""
from rtt_jax.configs.experiments import _common, _pools
from rtt_jax.evaluation import run_metrics as rm
from rtt_jax.experiments import Experiment
from rtt_jax.traces import retry

RECIPES = {
    "bug_30": "misconception:rate=0.3",
    "bug_60": "misconception:rate=0.6",
    "bug_60_steps": "misconception:rate=0.6:filter=steps",
    "bug_60_answer": "misconception:rate=0.6:filter=answer",
    "retry_60": "misconception:rate=0.6:retry=1",
    "clean": "misconception:rate=0",
}
DESCRIPTIONS = {
    "bug_30": "30% of bug-applicable traces misconceived",
    "bug_60": "60% of bug-applicable traces misconceived",
    "bug_60_steps": "bug_60, step-checker filtered, topped up",
    "bug_60_answer": "bug_60, answer-checked only, topped up",
    "retry_60": "bug_60's wrong lines each followed by [retry] and the right line",
    "clean": "every trace correct",
}
PROBE = "probes/misconception"
METRICS = (
    rm.report_value(f"{PROBE}/buggy_line_rate",
                    "share of bug-applicable lines the model wrote buggy (greedy samples, "
                    "retracted lines set aside), bug_applies set", name="buggy_line_rate"),
    rm.report_value(f"{PROBE}/buggy_probability",
                    "mean probability of the buggy result against the correct ones, "
                    "teacher-forced on the correct trace", name="buggy_probability"),
    rm.report_value(f"{PROBE}/buggy_preferred_rate",
                    "share of probes where the buggy result is the likeliest",
                    name="buggy_preferred"),
    rm.report_value("summary/bug_applies/answer_accuracy", "accuracy where the bug applies",
                    name="acc_bug_applies"),
    rm.report_value("summary/bug_never_applies/answer_accuracy",
                    "accuracy where it never applies (control)", name="acc_control"),
    rm.report_value(f"{PROBE}/retracted_buggy_per_problem",
                    "buggy lines written and then retracted, per problem", scale=1.0,
                    name="retracted_buggy"),
)

EXPERIMENT = Experiment(
    name="flawed_traces",
    claim="A systematic flaw in the training traces is learned; filtering the traces repairs it.",
    arms=tuple(_pools.pool_arm(a, DESCRIPTIONS[a]) for a in RECIPES),
    steps=(_pools.pool_step(RECIPES, per_level={"cpu": 2000, "tpu": 20000, "smoke": 8}),),
    baseline="clean", budget="tokens", metrics=METRICS,
    contrasts=(("bug_60_steps", "bug_60"), ("bug_60_answer", "bug_60"),
               ("retry_60", "bug_60"), ("bug_30", "bug_60")),
    seeds={"cpu": (0, 1, 2, 3, 4), "tpu": (0, 1, 2), "smoke": (0,)})


def _eval(c, probe_n: int):
    c.eval.update(misconception="abs_diff", probe_n=probe_n, retry_marker=retry.MARKER)
    return c


# Retry traces are the longest: 130 characters at level 8, 185 at level 12.
MAX_NEW_TOKENS = 192


def _cpu():
    return _eval(_pools.pool_source(_common.cpu_config(**_common.CPU_BUDGET),
                                    max_new_tokens=MAX_NEW_TOKENS), probe_n=200)


def _tpu():
    return _eval(_pools.pool_source(_common.tpu_config(steps=20_000), _common.TPU_TASK,
                                    max_new_tokens=320), probe_n=500)


def _smoke():
    c = _common.smoke_config(_cpu(), levels=[1, 2])
    c = _eval(c, probe_n=8)
    # An untrained model writes to the limit: keep the smoke's decode short.
    c.eval.update(max_new_tokens=48, max_len=c.data.seq_len + 48)
    return c


def get_config(arg="cpu/clean"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_tpu, smoke=_smoke))
