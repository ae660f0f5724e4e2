"""Filter a text corpus by quality: heuristics, near-duplicates, classifier score.

    python -m rtt_jax.textbook.filter --input=FILE.jsonl --out=DIR \
        [--keep_fraction=F | --threshold=T] [--skip_bad_lines] [--model=M.json]
    python -m rtt_jax.textbook.filter --tfds=NAME:SPLIT [--tfds_data_dir=D] --out=DIR
    python -m rtt_jax.textbook.filter --text=FILE_OR_DIR [--text_separator=""] --out=DIR

Each record (a JSONL object with a ``text`` field, or a TFDS element, or a
plain-text document) goes through, in order:

1. the heuristic rules of ``quality.RULES`` (any failure drops it, with the
   rules' reason strings);
2. near-duplicate removal with ``traces.dedup.NearDuplicateIndex`` over the
   records that passed 1 (first occurrence wins; the same lines in another
   order count as a duplicate too);
3. the classifier score P(good) of ``classifier.QualityClassifier``: kept if
   score >= ``--threshold`` (default 0.5), or, with ``--keep_fraction=F``, the
   ``round(F * records)`` best-scoring survivors of 1 and 2.

Writes ``DIR/kept.jsonl`` (records plus ``quality_score``),
``DIR/dropped.jsonl`` (records plus ``quality_score`` and ``drop_reasons``),
``DIR/filter_report.json`` (per-record scores and reasons, a score histogram,
drop counts, example texts, diversity of the input and of the kept corpus,
throughput) and ``DIR/score_histogram.png`` when matplotlib is importable.

Bad input (a missing or undecodable file, a line that is not JSON or nests
too deep, an ``--out`` that is a file or read-only, a full disk) is one error
line naming the file and line, exit status 2; ``--verbosity=1`` adds the
traceback. An input with no records is an error unless ``--allow_empty``.
"""
from __future__ import annotations

import collections
import json
import os
import sys
import time
from typing import Any

import numpy as np

from rtt_jax import cli_errors
from rtt_jax.traces import dedup
from rtt_jax.textbook import classifier as clf
from rtt_jax.textbook import quality, readers, corpus_diversity

HIST_BINS = 10


PROG = "python -m rtt_jax.textbook.filter"


def _define_flags(fv) -> None:
    from absl import flags
    flags.DEFINE_string("input", None, "JSONL file whose records have a text field", flag_values=fv)
    flags.DEFINE_string("tfds", None, "TFDS dataset as NAME:SPLIT", flag_values=fv)
    flags.DEFINE_string("text", None, "plain-text file or directory of *.txt", flag_values=fv)
    flags.mark_flags_as_mutual_exclusive(["input", "tfds", "text"], required=True,
                                         flag_values=fv)
    flags.DEFINE_string("tfds_data_dir", None, "TFDS data directory", flag_values=fv)
    flags.DEFINE_string("text_separator", None,
                        "line that separates documents in --text ('' = blank line)",
                        flag_values=fv)
    flags.DEFINE_string("field", "text", "record field holding the text", flag_values=fv)
    flags.DEFINE_string("out", None, "output directory", flag_values=fv)
    flags.mark_flag_as_required("out", flag_values=fv)
    flags.DEFINE_float("keep_fraction", None, "keep this fraction, best scores first",
                       lower_bound=0.0, upper_bound=1.0, flag_values=fv)
    flags.DEFINE_float("threshold", None, "keep scores at or above this (default 0.5)",
                       lower_bound=0.0, upper_bound=1.0, flag_values=fv)
    flags.mark_flags_as_mutual_exclusive(["keep_fraction", "threshold"], flag_values=fv)
    flags.DEFINE_boolean("skip_bad_lines", False,
                         "skip and count malformed JSONL lines instead of stopping",
                         flag_values=fv)
    flags.DEFINE_boolean("allow_empty", False, "accept an input with no records (else an error)",
                         flag_values=fv)
    flags.DEFINE_float("dedup_threshold", 0.8,
                       "MinHash Jaccard at or above which a text is a near-duplicate",
                       flag_values=fv)
    flags.DEFINE_string("model", None,
                        "classifier JSON; default: train the default model (a few seconds)",
                        flag_values=fv)
    flags.DEFINE_integer("diversity_sample", 100, "distinct-n uses the first N texts of each "
                         "family", flag_values=fv)
    flags.DEFINE_integer("examples", 3, "example texts per outcome in the report",
                         flag_values=fv)


def _args(argv):
    a, rest = cli_errors.parse_flags(argv, _define_flags, PROG)
    if rest:
        cli_errors.usage_error(f"unexpected arguments: {' '.join(rest)}", PROG)
    return a


def _read(a, read_stats: readers.ReadStats) -> list[readers.Doc]:
    if a.input:
        return list(readers.read_jsonl(a.input, a.field, a.skip_bad_lines, read_stats))
    if a.tfds:
        return list(readers.read_tfds(a.tfds, a.tfds_data_dir, a.field))
    sep = a.text_separator
    return list(readers.read_text(a.text, None if sep is None else sep))


def decide(texts: list[str], scores: np.ndarray, keep_fraction: float | None,
           threshold: float | None, dedup_threshold: float) -> tuple[list[bool], list[list[str]], dict]:
    """(kept flags, drop reasons per record, summary) for scored texts."""
    reasons: list[list[str]] = [list(quality.check(t).failures) for t in texts]
    index = dedup.NearDuplicateIndex(threshold=dedup_threshold, lines_in_any_order=True)
    for i, t in enumerate(texts):
        if reasons[i]:
            continue  # failed heuristics: keep it out of the index
        dup = index.duplicate_of(t)
        if dup is not None:
            reasons[i].append(f"near-duplicate of record {dup + 1} (MinHash Jaccard "
                              f">= {dedup_threshold}, or its lines in another order)")
        else:
            index.add(i, t)
    alive = [i for i in range(len(texts)) if not reasons[i]]
    if keep_fraction is not None:
        k = min(len(alive), int(round(keep_fraction * len(texts))))
        best = sorted(alive, key=lambda i: (-scores[i], i))[:k]
        cut = float(scores[best[-1]]) if best else 1.0
        chosen = set(best)
        for i in alive:
            if i not in chosen:
                reasons[i].append(f"score {scores[i]:.3f} outside the top {keep_fraction:g} fraction")
        mode = {"mode": "keep_fraction", "keep_fraction": keep_fraction, "effective_threshold": round(cut, 4)}
    else:
        t = 0.5 if threshold is None else threshold
        for i in alive:
            if scores[i] < t:
                reasons[i].append(f"classifier score {scores[i]:.3f} < threshold {t:g}")
        mode = {"mode": "threshold", "threshold": t}
    kept = [not r for r in reasons]
    return kept, reasons, mode


def _reason_kind(reason: str) -> str:
    if reason.startswith("near-duplicate"):
        return "near_duplicate"
    if reason.startswith(("classifier score", "score ")):
        return "low_score"
    return "heuristic:" + reason.split("=", 1)[0]


def _histogram(scores: np.ndarray, kept: list[bool]) -> dict[str, Any]:
    edges = np.linspace(0.0, 1.0, HIST_BINS + 1)
    k = np.asarray(kept, bool)
    return {"bin_edges": [round(float(e), 2) for e in edges],
            "kept": np.histogram(scores[k], edges)[0].tolist(),
            "dropped": np.histogram(scores[~k], edges)[0].tolist()}


def _plot(hist: dict, path: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    edges = np.asarray(hist["bin_edges"])
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(edges[:-1], hist["dropped"], width=np.diff(edges), align="edge", label="dropped", alpha=0.7)
    ax.bar(edges[:-1], hist["kept"], width=np.diff(edges), align="edge", bottom=hist["dropped"],
           label="kept", alpha=0.7)
    ax.set_xlabel("classifier score P(good)")
    ax.set_ylabel("records")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run(a) -> dict[str, Any]:
    t0 = time.time()
    read_stats = readers.ReadStats()
    cli_errors.make_output_dir(a.out)
    docs = _read(a, read_stats)
    if not docs and not a.allow_empty:
        raise cli_errors.EmptyInputError(a.input or a.text or f"tfds:{a.tfds}")
    model = clf.QualityClassifier.load(a.model) if a.model else clf.default_model()
    t1 = time.time()
    texts = [d.text for d in docs]
    scores = model.scores(texts) if texts else np.zeros(0)
    kept, reasons, mode = decide(texts, scores, a.keep_fraction, a.threshold, a.dedup_threshold)
    filter_s = time.time() - t1
    lines: dict[str, list[str]] = {"kept.jsonl": [], "dropped.jsonl": []}
    for d, s, k, r in zip(docs, scores, kept, reasons):
        rec = d.record | {"quality_score": round(float(s), 4)}
        if k:
            lines["kept.jsonl"].append(json.dumps(rec) + "\n")
        else:
            lines["dropped.jsonl"].append(json.dumps(rec | {"drop_reasons": r}) + "\n")
    for name, out_lines in lines.items():  # one file at a time: a full disk names it
        path = os.path.join(a.out, name)
        with cli_errors.naming(path), open(path, "w") as f:
            f.writelines(out_lines)
    hist = _histogram(scores, kept)
    counts = collections.Counter(_reason_kind(r) for rs in reasons for r in rs)
    first = [i for i in range(len(docs)) if not kept[i]]
    report = {
        "source": a.input or (f"tfds:{a.tfds}" if a.tfds else a.text),
        "records": len(docs), "kept": sum(kept), "dropped": len(docs) - sum(kept),
        "bad_lines_skipped": read_stats.bad_lines, "bad_line_errors": read_stats.errors,
        **mode, "dedup_threshold": a.dedup_threshold,
        "model": a.model or "default (trained on synthetic sections, seed 0)",
        "drop_reason_counts": dict(sorted(counts.items())),
        "histogram": hist,
        "records_per_second": round(len(docs) / filter_s, 1) if filter_s > 0 else None,
        # Distinct-n hashes every n-gram; a sample per family keeps the report
        # from costing more than the filtering itself on large corpora.
        "diversity": {"input": corpus_diversity.corpus_diversity((d.record for d in docs), max_texts=a.diversity_sample),
                      "kept": corpus_diversity.corpus_diversity((d.record for d, k in zip(docs, kept) if k),
                                                     max_texts=a.diversity_sample)},
        "examples": {
            "kept": [{"line": docs[i].line, "score": round(float(scores[i]), 4), "text": texts[i][:500]}
                     for i in [i for i in range(len(docs)) if kept[i]][:a.examples]],
            "dropped": [{"line": docs[i].line, "score": round(float(scores[i]), 4),
                         "reasons": reasons[i], "text": texts[i][:500]} for i in first[:a.examples]],
        },
        "per_record": [{"line": d.line, "score": round(float(s), 4), "kept": k, "reasons": r}
                       for d, s, k, r in zip(docs, scores, kept, reasons)],
    }
    report["seconds"] = {"total": round(time.time() - t0, 2), "filter": round(filter_s, 2)}
    png = os.path.join(a.out, "score_histogram.png")
    with cli_errors.naming(png):
        report["histogram_png"] = png if _plot(hist, png) else None
    path = os.path.join(a.out, "filter_report.json")
    with cli_errors.naming(path), open(path, "w") as f:
        json.dump(report, f, indent=1)
    return report


def main(argv=None) -> int:
    """Filter per the flags in ``argv`` (default ``sys.argv[1:]``); the exit status."""
    a = _args(sys.argv[1:] if argv is None else argv)

    def body() -> None:
        report = run(a)
        print(json.dumps({k: report[k] for k in ("records", "kept", "dropped", "bad_lines_skipped",
                                                   "records_per_second", "drop_reason_counts")}))
    return cli_errors.run_reporting(body, path=a.out, verbosity=a.verbosity)


if __name__ == "__main__":
    sys.exit(main())
