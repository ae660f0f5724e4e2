"""Reproducing Lee et al. 2023's sample-efficiency figure and writing
``docs/reproductions.md``.

    python -m rtt_jax.experiments.lee2023_report --out=workdirs/lee2023 \
        [--variant=cpu] [--doc=docs/reproductions.md]

runs ``configs/experiments/lee2023.py`` through the experiment runner (or,
with ``--collect_only``, reads its finished runs), then sets our test accuracy
per (format, N) beside the paper's (``paper_sample_efficiency.csv`` in the
data directory), with step accuracy for the scratchpads, the model size,
steps and tokens, the differences from their setup, and the checks the
reproduction must pass (``checks``), each marked as holding or not.
"""
from __future__ import annotations

import csv
import os
import sys
from typing import Mapping

from absl import app, flags

# Paper CSV column -> our format name.
PAPER_COLUMNS = {"addition": "plain", "reverse": "reversed",
                 "simplified scratchpad": "simplified", "algorithmic reasoning": "detailed"}
FORMAT_ORDER = ("plain", "reversed", "simplified", "detailed")
TEST_SET = "lee2023/test"


def paper_table(path: str) -> dict[str, dict[int, float]]:
    """``{format: {N: accuracy %}}`` from their sample-efficiency CSV."""
    out: dict[str, dict[int, float]] = {f: {} for f in FORMAT_ORDER}
    with open(path, encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("num_train_samples", *PAPER_COLUMNS) if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        for lineno, row in enumerate(reader, 2):
            try:
                n = int(row["num_train_samples"])
                for col, fmt in PAPER_COLUMNS.items():
                    if row[col].strip():
                        out[fmt][n] = float(row[col])
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
    return out


def our_table(results: Mapping) -> dict[str, dict[int, dict]]:
    """``{format: {N: {"accuracy", "step_validity", "seeds"}}}`` in % from results.json
    (arms are named ``<format>_<N/1000>k``); missing runs are left out."""
    out: dict[str, dict[int, dict]] = {}
    for arm, entry in results["arms"].items():
        fmt, _, size = arm.rpartition("_")
        if fmt not in FORMAT_ORDER or not size.endswith("k") or not entry["seeds_completed"]:
            continue
        sets = entry["sets"].get(TEST_SET, {})
        acc, step = sets.get("answer_accuracy") or {}, sets.get("step_validity") or {}
        out.setdefault(fmt, {})[int(float(size[:-1]) * 1000)] = {
            "accuracy": None if acc.get("mean") is None else 100 * acc["mean"],
            "accuracy_std": None if acc.get("std") is None else 100 * acc["std"],
            "step_validity": None if step.get("mean") is None else 100 * step["mean"],
            "seeds": entry["seeds_completed"]}
    return out


def checks(ours: Mapping[str, Mapping[int, Mapping]]) -> list[tuple[str, bool | None, str]]:
    """The claims the reproduction must show: ``(claim, holds (None: not run), detail)``."""
    def acc(fmt, n):
        return (ours.get(fmt, {}).get(n) or {}).get("accuracy")

    out = []
    plain_1k = acc("plain", 1000)
    for fmt in ("simplified", "detailed"):
        a = acc(fmt, 1000)
        ok = None if a is None or plain_1k is None else a - plain_1k >= 60
        out.append((f"At N=1k, {fmt} scratchpad >= plain + 60 points", ok,
                    "not run" if ok is None else f"{a:.1f} vs {plain_1k:.1f} ({a - plain_1k:+.1f})"))
    p10 = acc("plain", 10000)
    ok = None if p10 is None or plain_1k is None else p10 - plain_1k >= 50
    out.append(("Plain gains >= 50 points from N=1k to N=10k", ok,
                "not run" if ok is None else f"{plain_1k:.1f} -> {p10:.1f} ({p10 - plain_1k:+.1f})"))
    for fmt in ("simplified", "detailed"):
        s = (ours.get(fmt, {}).get(1000) or {}).get("step_validity")
        out.append((f"Step accuracy reported for the {fmt} scratchpad", s is not None,
                    "not run" if s is None else f"{s:.1f}% of steps valid"))
    return out


def _cell(v) -> str:
    return "–" if v is None else f"{v:.1f}"


def paper_size_rows(results: Mapping, paper: Mapping[str, Mapping[int, float]],
                    setup: Mapping) -> list[str]:
    """The section for runs of the paper-size variant (``gpu`` or ``tpu``): our
    accuracy and step validity beside the paper's, per arm that was run."""
    ours = our_table(results)
    lines = ["", f"### Their model size ({setup['variant']} variant)", "",
             f"Setup: {setup['summary']}", "",
             "| arm | paper | rtt_jax | step validity |", "|---|---|---|---|"]
    for fmt in FORMAT_ORDER:
        for n, row in sorted(ours.get(fmt, {}).items()):
            lines.append(f"| {fmt}, N={n:,} | {_cell(paper.get(fmt, {}).get(n))} | "
                         f"**{_cell(row['accuracy'])}** | {_cell(row['step_validity'])} |")
    run = {a for a, e in results["arms"].items() if e["seeds_completed"]}
    lines += ["", f"Arms run: {', '.join(sorted(run))}; the others did not fit the device "
              "time (see the note below the table)." if setup.get("note") is None
              else setup["note"]]
    return lines


def data_section() -> list[str]:
    """How to get their files: the "Data" paragraph that ``LEE2023.doc`` points at."""
    from rtt_jax.external_data import LEE2023
    files = ", ".join(f"`{f}`" for f in LEE2023.files)
    return ["### Data", "",
            f"The runs read {files} from `${LEE2023.env}`, else from "
            f"`<checkout>/../shared/data/{LEE2023.name}` (a data folder beside the checkout; "
            "`rtt_jax/external_data.py`). They are Lee et al.'s balanced 3-digit addition "
            "files (MIT licence, github.com/lee-ny/teaching_arithmetic): "
            "`train_3digit_N.txt` holds N examples in the plain format (`a+b=c`, one a line; "
            "each smaller file a subset of the 10k one), `test_10000.txt` their 9,900 sorted "
            "test pairs, `paper_sample_efficiency.csv` the paper's accuracy per N. "
            "The runner checks every run's files before it starts and names a missing one, "
            "with where to put it."]


def markdown(results: Mapping, paper: Mapping[str, Mapping[int, float]], setup: Mapping,
             command: str, extra: list[str] | None = None) -> str:
    ours = our_table(results)
    sizes = sorted({n for f in ours.values() for n in f} | {1000, 3000, 10000})
    lines = ["# Reproductions", "",
             "## Lee et al. 2023, *Teaching Arithmetic to Small Transformers*: sample efficiency",
             "", "Test accuracy (%) on 3-digit addition against the number of training "
             "examples, per data format. Our rows are produced by", "",
             f"    {command}", "",
             *data_section(), "",
             f"Setup: {setup['summary']}", "",
             "| format | source | " + " | ".join(f"N={n:,}" for n in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for fmt in FORMAT_ORDER:
        lines.append(f"| {fmt} | paper | " + " | ".join(_cell(paper.get(fmt, {}).get(n))
                                                       for n in sizes) + " |")
        lines.append(f"| {fmt} | **rtt_jax** | " + " | ".join(
            _cell((ours.get(fmt, {}).get(n) or {}).get("accuracy")) for n in sizes) + " |")
    lines += extra or []
    lines += ["", "Step accuracy (% of scratchpad lines that are valid, our checker):", ""]
    for fmt in ("simplified", "detailed"):
        for n, row in sorted(ours.get(fmt, {}).items()):
            lines.append(f"- {fmt}, N={n:,}: {_cell(row['step_validity'])}% of steps valid, "
                         f"{_cell(row['accuracy'])}% of answers right")
    lines += ["", "### What must hold", ""]
    for claim, ok, detail in checks(ours):
        mark = {True: "holds", False: "**does not hold**", None: "not run"}[ok]
        lines.append(f"- {claim}: {mark} ({detail})")
    lines += ["", "### Differences from the paper's setup", ""] + \
        [f"- {d}" for d in setup["differences"]]
    if setup.get("observations"):
        lines += ["", "### What differs in the outcome", ""] + \
            [f"- {o}" for o in setup["observations"]]
    missing = [(a, m) for a, e in results["arms"].items() for m in e["missing"]]
    if missing:
        lines += ["", "Missing runs: " + "; ".join(f"{a} seed {m['seed']} ({m['reason']})"
                                                    for a, m in missing)]
    return "\n".join(lines) + "\n"


def setup_text(config, results: Mapping, variant: str = "cpu") -> dict:
    """Model size, steps and tokens of our runs, and the differences from theirs.
    ``config`` is any arm's config of ``variant`` (they share the model)."""
    from rtt_jax.config_validation import validate
    from rtt_jax.model import accounting
    mc = validate(config).model
    n_params = (accounting.matmul_param_count(mc) + (2 * mc.n_layers + 1) * mc.d_model
                + (0 if mc.tie_embeddings else mc.vocab_size * mc.d_model))
    tokens = next(iter(results["budget"]["tokens_per_run"].values()))
    m, t, d = config.model, config.train, config.data
    test_n = config.eval.lee_n or 9900
    per_step = d.global_batch_size * d.seq_len
    rows = ", ".join(f"{per_step // n} rows of {n} for {f}" for f, n in _row_len().items())
    summary = (f"a {n_params / 1e6:.2f}M-parameter decoder ({m.n_layers} layers, d={m.d_model}, "
               f"{m.n_heads} heads, {m.dtype}), {t.steps:,} steps of {per_step:,} token "
               f"positions ({rows}) = {tokens / 1e6:.1f}M token positions per run (every arm "
               f"the same), AdamW lr {t.learning_rate:g}, beta2 {t.b2:g}, {t.warmup_steps} "
               f"warmup steps and cosine decay; greedy decoding on {test_n:,} problems drawn "
               f"by a seeded shuffle of their test_10000.txt; seeds: {results['seeds']}.")
    differences = [
        f"Model and compute: they trained a 10.6M-parameter NanoGPT for about 328M token "
        f"positions per run (5,000 iterations of 256 x 256); this run is {n_params / 1e6:.2f}M "
        f"parameters and {tokens / 1e6:.1f}M positions"
        + (f", about {328e6 / tokens:.0f}x less." if tokens < 200e6 else "."),
        "Loss: they trained on every character of each example; we train on the completion "
        "only (the answer or scratchpad and the end-of-text token), the prompt is context.",
        "Packing: they cut a character stream into blocks; we pack whole examples into rows "
        "with attention masked to each example, so an example never sees its neighbours.",
        "Decoding: they sampled with temperature 0.8 and top-k 200; we decode greedily.",
        "No dropout (theirs: 0.2 for reversed); RMSNorm, rotary positions and SwiGLU "
        "instead of NanoGPT's LayerNorm, learned positions and GELU.",
        f"Test set: they used all of test_10000.txt; this run uses {test_n:,} of its "
        "problems (a seeded shuffle, as their file is sorted).",
        "Tokens: characters in both (our byte tokenizer is character-level on this ASCII text).",
    ]
    return {"summary": summary, "differences": differences, "n_params": n_params,
            "variant": variant}


def _row_len() -> dict:
    from rtt_jax.experiments import plan
    return plan.load_experiment(plan.experiment_path("lee2023")).ROW_LEN


def _define_flags() -> None:
    """CLI flags, defined only when run as a program (importing this module for
    its tables must not claim flag names such as --out)."""
    flags.DEFINE_string("out", None, "Experiment output directory.")
    flags.DEFINE_string("variant", "cpu", "cpu, gpu or tpu.")
    flags.DEFINE_string("doc", "docs/reproductions.md", "Where to write the document.")
    flags.DEFINE_bool("collect_only", False, "Only collect finished runs.")
    flags.DEFINE_string("observations", "",
                        "A file of notes (one per line) on how our outcome differs.")
    flags.DEFINE_list("arms", [], "Arms to run (default: all).")
    flags.DEFINE_integer("parallel", 1, "Local runs at a time (each pinned to its cores).")
    flags.DEFINE_multi_string("set", [], "field=value config override for every run.")
    flags.DEFINE_string("paper_size_results", "",
                        "results.json of a run of the paper-size variant (gpu or tpu) to "
                        "add to the document beside the paper, e.g. the arms that fit a GPU.")
    flags.DEFINE_string("paper_size_note", "", "One line on what the paper-size run covers.")
    flags.DEFINE_bool("allow_missing", False, "Exit 0 even when runs did not complete (the "
                      "document is written either way, naming the missing runs).")


def main(argv) -> int:
    del argv
    import json
    FLAGS = flags.FLAGS
    from rtt_jax.experiments import plan
    from rtt_jax.experiments.run import run_experiment
    from rtt_jax.experiments.definition import ExperimentError
    if not FLAGS.out:
        print("error: --out is required", file=sys.stderr)
        return 2
    from rtt_jax.external_data import LEE2023
    module = plan.load_experiment(plan.experiment_path("lee2023"))
    csv_path = LEE2023.path("paper_sample_efficiency.csv")
    try:
        if not os.path.exists(csv_path):
            raise OSError(f"{csv_path}: no such file; {LEE2023.how_to_get()}")
        paper = paper_table(csv_path)
        failed: list[str] = []
        path = run_experiment("lee2023", FLAGS.variant, FLAGS.out, arms=FLAGS.arms,
                              sets=FLAGS.set, collect_only=FLAGS.collect_only,
                              parallel=FLAGS.parallel, failed=failed)
        extra = []
        if FLAGS.paper_size_results:
            with open(FLAGS.paper_size_results, encoding="utf-8") as f:
                big = json.load(f)
            big_setup = setup_text(module.get_config(f"{big['variant']}/plain_1k"), big,
                                   big["variant"])
            big_setup["note"] = FLAGS.paper_size_note or None
            extra = paper_size_rows(big, paper, big_setup)
    except (ExperimentError, OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    setup = setup_text(module.get_config(f"{FLAGS.variant}/plain_1k"), results, FLAGS.variant)
    if FLAGS.observations:
        with open(FLAGS.observations, encoding="utf-8") as f:
            setup["observations"] = [line.strip() for line in f if line.strip()]
    command = (f"python -m rtt_jax.experiments.lee2023_report --variant={FLAGS.variant} --out=DIR"
               + (f" --parallel={FLAGS.parallel}" if FLAGS.parallel > 1 else ""))
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.doc)), exist_ok=True)
    with open(FLAGS.doc, "w", encoding="utf-8") as f:
        f.write(markdown(results, paper, setup, command, extra))
    for claim, ok, detail in checks(our_table(results)):
        print(f"{'OK ' if ok else 'NO '} {claim}: {detail}")
    print(f"wrote {os.path.abspath(FLAGS.doc)}")
    return 1 if failed and not FLAGS.allow_missing else 0


if __name__ == "__main__":
    _define_flags()
    app.run(main)
