"""The pilots behind ``length_generalization``'s arms and budget: one seed,
50 problems at levels 4, 8, 12, 16, 24 and 32, 1,200 steps (the ``cpu``
recipe's budget) unless a command says otherwise. docs/results.md,
"length_generalization", has each pilot's command and numbers.

Arms (``length_generalization``'s helpers; ``running_rope``, ``hinted_rope``
and the rest are its own arms):

* ``hinted_random``: hinted traces, random RoPE ids (Ruoss et al. 2023);
* ``hinted_skip``: hinted traces, RoPE ids with one random skip (PoSE);
* ``hinted_nope``: hinted traces, no position ids;
* ``running_coupled_contiguous``, ``hinted_coupled_contiguous``: coupled ids
  with the prompt counting 0, 1, 2, ... (``coupling_prompt=contiguous``);
* ``running_coupled_contiguous_skip``, ``hinted_coupled_contiguous_skip``:
  the same with a random skip;
* ``running_coupled``: coupled ids, the cue line laid before the first line;
* ``running_coupled_skip``: that and a random skip (``length_generalization``'s
  ``traces``); ``hinted_coupled_skip``: the same with hinted traces.

    python -m rtt_jax.experiments.run --experiment=length_generalization_pilots \
        --variant=pilot --arms=running_coupled,running_coupled_skip --parallel=2 --out=DIR
"""
from rtt_jax.configs.experiments import _common
from rtt_jax.configs.experiments import length_generalization as lg
from rtt_jax.experiments import Arm, Experiment

EXPERIMENT = Experiment(
    name="length_generalization_pilots",
    claim="Which format and position ids let a trace model sum longer chains.",
    arms=(Arm("running_rope", {}, "running traces, RoPE"),
          Arm("hinted_rope", dict(lg.HINTED), "hinted traces, RoPE"),
          Arm("hinted_random", lg.HINTED | lg.RANDOM, "hinted traces, random RoPE ids"),
          Arm("hinted_skip", lg.HINTED | lg.SKIP, "hinted traces, RoPE ids with a skip"),
          Arm("hinted_nope", lg.HINTED | lg.NOPE, "hinted traces, no position ids"),
          Arm("running_coupled_contiguous", lg.coupled("running", "contiguous"),
              "running traces, coupled ids, the prompt contiguous"),
          Arm("hinted_coupled_contiguous", lg.HINTED | lg.coupled("hinted", "contiguous"),
              "hinted traces, coupled ids, the prompt contiguous"),
          Arm("running_coupled_contiguous_skip",
              lg.coupled("running", "contiguous") | lg.COUPLED_SKIP,
              "running traces, coupled ids, the prompt contiguous, a skip"),
          Arm("hinted_coupled_contiguous_skip",
              lg.HINTED | lg.coupled("hinted", "contiguous") | lg.COUPLED_SKIP,
              "hinted traces, coupled ids, the prompt contiguous, a skip"),
          Arm("running_coupled", lg.coupled("running"), "running traces, coupled ids"),
          Arm("running_coupled_skip", lg.TRACES, "running traces, coupled ids, a skip"),
          Arm("hinted_coupled_skip", lg.HINTED | lg.coupled("hinted") | lg.COUPLED_SKIP,
              "hinted traces, coupled ids, a skip")),
    baseline="running_rope", budget="tokens", seeds={"pilot": (0,)})


def _pilot():
    """One seed, 50 problems at six levels, the cpu recipe's 1,200 steps."""
    c = _common.one_task_source(_common.cpu_config(**_common.CPU_BUDGET), lg.TASK)
    c = _common.task_eval(c, lg.TASK, max_new_tokens=lg.MAX_NEW_TOKENS)
    c.eval.update(n_per_level=50, levels=[4, 8, 12, 16, 24, 32])
    return c


def get_config(arg="pilot/running_coupled_skip"):
    return EXPERIMENT.config(arg, variants=dict(pilot=_pilot))
