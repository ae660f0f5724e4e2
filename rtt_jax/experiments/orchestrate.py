"""One experiment from plan to results: plan the runs, check the budget,
execute them (locally one after another, or print/run TPU launch commands),
collect ``results.json``, draw the plots and write ``results.md``.
``python -m rtt_jax.experiments.run`` is its command line."""
from __future__ import annotations

import os

from rtt_jax import paths


def run_experiment(experiment: str, variant: str, out: str, *, launch: str = "local",
                   execute: bool = False, collect_only: bool = False, seeds=(), arms=(),
                   sets=(), workdir_root: str | None = None, run_timeout: float | None = None,
                   report_copy: str | None = None, parallel: int = 1, echo=print) -> str | None:
    """Plan, execute (locally or on TPU), collect and write; returns results.json's path
    (None when commands were only printed)."""
    from rtt_jax.experiments import plots, results, runner, spec, tables
    path = runner.experiment_path(experiment)
    module = runner.load_experiment(path)
    exp = module.EXPERIMENT
    runs = runner.plan(path, exp, variant, out, seeds=[int(s) for s in seeds] or None,
                       arms=list(arms) or None, sets=sets, workdir_root=workdir_root)
    configs = {}
    for arm in dict.fromkeys(r.arm for r in runs if r.kind == "run"):
        try:
            configs[arm] = module.get_config(f"{variant}/{arm}")
            spec.apply_overrides(configs[arm], _typed_sets(sets, configs[arm]), where="--set")
        except spec.ExperimentError:
            raise
        except Exception as e:  # an experiment file that fails to build its config
            raise spec.ExperimentError(f"{path}: config {variant}/{arm}: {e}") from None
    budget = spec.check_budget(exp, configs)
    paths.makedirs(out)
    if launch == "tpu" and not collect_only:
        if execute:
            runner.execute_tpu(runs, echo=echo)
        else:
            for line in runner.tpu_commands(runs):
                echo(line)
            return None
    elif not collect_only:
        env = dict(os.environ)
        if not paths.is_remote(out):  # a gs:// OUT gets no compilation cache of ours
            env.setdefault("JAX_COMPILATION_CACHE_DIR",
                           os.path.join(os.path.abspath(out), ".jax_cache"))
        echo(f"{exp.name} ({variant}): {len(runs)} runs, budget {exp.budget}; {exp.claim}")
        runner.execute_local(runs, env=env, timeout_s=run_timeout, echo=echo, parallel=parallel)
    res = results.collect(exp, variant, runs, budget)
    json_path = results.write_json(res, out)
    figures = plots.write_plots(res, out)
    md_path = tables.write_markdown(res, out, figures)
    if report_copy:
        md_path = tables.write_markdown(res, out, figures, name=report_copy)
    echo("")
    echo(tables.console_table(res))
    echo(f"report: {paths.absolute(md_path)}")
    echo(f"results: {paths.absolute(json_path)}")
    return json_path


def _typed_sets(sets, config) -> dict:
    """``["train.steps=20"]`` -> ``{"train.steps": 20}`` typed like the field."""
    from rtt_jax.experiments.spec import typed_value
    out = {}
    for s in sets:
        key, _, raw = s.partition("=")
        out[key] = typed_value(config, key, raw, where="--set")
    return out
