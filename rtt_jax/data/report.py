"""What a curriculum will train on, per stage, as a report a person can read.

    python -m rtt_jax.data.report --config=configs/base.py:tiny --out=DIR [--n=400]

For each stage it draws the stage's first ``n`` examples exactly as training
does (the Grain mixture ``Curriculum.drawn``, at the indices the lanes read
first) and writes ``DIR/data_report.json`` (one
entry per stage) and ``DIR/data_report.md`` with: sources, configured weight
and share drawn, levels, tokens and target tokens per source; the heuristic
quality scores (``rtt_jax.textbook.quality``: share passing, failures per
rule, a histogram of the number of failed rules); near duplicates
(MinHash, ``rtt_jax.traces.dedup``); diversity (distinct-n over targets); and a
few decoded examples. Plots: tokens per source per stage, and the quality
histogram (``tokens_per_source.png``, ``quality_histogram.png``). A bad flag,
config or data file, or an ``--out`` that is a file, read-only or on a full
disk, is one error line (``--verbosity=1``: with the traceback).
"""
from __future__ import annotations

import collections
import json
import os

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from rtt_jax import cli_errors
from rtt_jax.data.curriculum import Curriculum
from rtt_jax.data.formatting import FULL, format_example
from rtt_jax.data.lane_packing import first_indices
from rtt_jax.data.spec import data_spec
from rtt_jax.data.tokenizer import make_tokenizer
from rtt_jax.textbook import quality
from rtt_jax.traces import dedup, diversity

N_EXAMPLES_SHOWN = 3


def stage_report(cur: Curriculum, s: int, n: int, lanes: int = 1, window: int = 64) -> dict:
    """Stage s's first ``n`` examples in the order ``lanes`` lanes packing
    ``window``-example windows read them (``lane_packing.first_indices``)."""
    stage = cur.stages[s]
    draws = cur.drawn(s)
    per_source = collections.defaultdict(lambda: {"examples": 0, "tokens": 0, "targets": 0,
                                                  "levels": collections.Counter()})
    texts, failed_rules, n_failed, shown = [], collections.Counter(), [], []
    for i in first_indices(n, lanes, window):
        name, level, ex = draws[i]
        enc = format_example(ex.prompt, ex.completion, ex.mode, cur.tokenizer, answer=ex.answer,
                             prompt_loss=getattr(cur.sources[name], "prompt_loss", False))
        row = per_source[name]
        row["examples"] += 1
        row["tokens"] += len(enc.tokens)
        row["targets"] += int(enc.loss_mask.sum())
        row["levels"][level] += 1
        target = ex.completion
        texts.append(target)
        if ex.mode == FULL:  # the web-text rules judge prose; traces are judged by verifiers
            q = quality.check(ex.completion)
            n_failed.append(len(q.failures))
            failed_rules.update(f.split("=")[0] for f in q.failures)
        if len(shown) < N_EXAMPLES_SHOWN:
            shown.append({"source": name, "level": level, "prompt": ex.prompt[:500],
                          "target": target[:1000]})
    kept = dedup.deduplicate(enumerate(texts))
    weights = stage.weights
    sources = {
        name: {"weight": round(weights[name], 4), "share_drawn": row["examples"] / n,
               "examples": row["examples"], "tokens": row["tokens"], "target_tokens": row["targets"],
               "levels": {str(k): v for k, v in sorted(row["levels"].items())}}
        for name, row in sorted(per_source.items())}
    hist = np.bincount(np.asarray(n_failed, int), minlength=4)
    passing = float(np.mean(np.asarray(n_failed) == 0)) if n_failed else None
    return {
        "stage": s, "name": stage.name, "steps": stage.steps, "examples_drawn": n,
        "sources": sources,
        "configured_levels": {src: list(lv) for src, lv in zip(stage.sources, stage.levels)},
        "quality": {"scored": len(n_failed), "share_passing_all_rules": passing,
                    "failed_rules_histogram": hist.tolist(),
                    "failures_per_rule": dict(failed_rules.most_common())},
        "duplicates": {"near_duplicates_removed": n - len(kept),
                       "share_unique": len(kept) / n},
        "diversity": {f"distinct_{k}": round(diversity.distinct_n(texts, k), 4) for k in (1, 2, 4)},
        "examples": shown,
    }


def markdown(report: dict) -> str:
    out = [f"# Data report: {report['config']}", ""]
    for st in report["stages"]:
        out += [f"## Stage {st['stage']} `{st['name']}` ({st['steps']} steps; "
                f"{st['examples_drawn']} examples drawn)", "",
                "| source | weight | drawn | levels | tokens | target tokens |",
                "|---|---|---|---|---|---|"]
        for name, r in st["sources"].items():
            lv = ", ".join(f"{k}:{v}" for k, v in r["levels"].items())
            out.append(f"| {name} | {r['weight']:.2f} | {r['share_drawn']:.2f} | {lv} | "
                       f"{r['tokens']} | {r['target_tokens']} |")
        q, d = st["quality"], st["duplicates"]
        qline = ("no textbook (full-mode) text in this stage" if not q["scored"] else
                 f"{q['share_passing_all_rules']:.1%} of {q['scored']} textbook texts pass every "
                 f"heuristic rule; failures per rule: {q['failures_per_rule'] or 'none'}")
        out += ["", f"Quality: {qline}.",
                f"Near duplicates removed: {d['near_duplicates_removed']} "
                f"({d['share_unique']:.1%} unique). Diversity: {st['diversity']}.", ""]
        for ex in st["examples"]:
            out += [f"- `{ex['source']}` level {ex['level']}:", "", "```",
                    (ex["prompt"] + ex["target"])[:600], "```", ""]
    return "\n".join(out)


def plots(report: dict, out: str) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    stages = report["stages"]
    names = sorted({n for st in stages for n in st["sources"]})
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = np.zeros(len(stages))
    for name in names:
        vals = np.array([st["sources"].get(name, {}).get("tokens", 0) for st in stages], float)
        ax.bar([st["name"] for st in stages], vals, bottom=bottom, label=name)
        bottom += vals
    ax.set_ylabel("tokens in the drawn sample")
    ax.set_title("Tokens per source per stage")
    ax.legend()
    paths = [os.path.join(out, "tokens_per_source.png")]
    with cli_errors.naming(paths[0]):
        fig.savefig(paths[0], dpi=100, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    for st in stages:
        h = st["quality"]["failed_rules_histogram"]
        ax.plot(range(len(h)), h, marker="o", label=st["name"])
    ax.set_xlabel("heuristic quality rules failed")
    ax.set_ylabel("examples")
    ax.legend()
    paths.append(os.path.join(out, "quality_histogram.png"))
    with cli_errors.naming(paths[1]):
        fig.savefig(paths[1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths


def write_data_report(config, out: str, n: int = 400, config_name: str = "") -> dict:
    if n < 1:
        raise ValueError(f"--n={n}: expected at least 1 example per stage")
    d = data_spec(config.data, config.seed)
    cur = Curriculum.from_spec(d, make_tokenizer(d.tokenizer))
    cli_errors.make_output_dir(out)
    report = {"config": config_name, "stages": [
        stage_report(cur, s, n, d.global_batch_size, d.packing.window)
        for s in range(len(cur.stages))]}
    path = os.path.join(out, "data_report.json")
    with cli_errors.naming(path), open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    path = os.path.join(out, "data_report.md")
    with cli_errors.naming(path), open(path, "w", encoding="utf-8") as f:
        f.write(markdown(report))
    report["plots"] = plots(report, out)
    return report


if __name__ == "__main__":
    _config = config_flags.DEFINE_config_file("config", None, "Config file[:variant].")
    _out = flags.DEFINE_string("out", None, "Directory for data_report.{json,md} and plots.")
    _n = flags.DEFINE_integer("n", 400, "Examples drawn per stage.")
    flags.mark_flags_as_required(["config", "out"])

    def _main(argv):
        del argv

        def body():
            write_data_report(_config.value, _out.value, _n.value,
                              flags.FLAGS["config"].serialize())
            print(os.path.join(_out.value, "data_report.json"))
        return cli_errors.run_reporting(body, path=_out.value)
    app.run(_main, flags_parser=cli_errors.flags_parser(_config))
