"""Write synthetic textbook sections to JSONL, with a diversity report.

    python -m rtt_jax.textbook.generate --out=DIR [--n=1000] [--seed=0] \
        [--families=addition,logic] [--levels=1,2,3] [--check_filter=200]

Writes ``DIR/sections.jsonl`` (one ``Section.to_json()`` per line, with its
source index ``i``) and ``DIR/generate_report.json``: counts per family and
level, sections per second, and ``corpus_diversity.corpus_diversity``
(distinct-n, template and skill entropy). ``--check_filter=N`` adds
``filter_check``: the quality filter's precision and recall on N clean
sections of a held-out seed and a corrupted copy of each
(``filter_eval.clean_vs_corrupted``), the figure a change of the generator
must not lower. A bad flag (an unknown family, a level that is
not an integer, ``--n`` below 1) or an ``--out`` that is a file, read-only or
on a full disk is one error line (``--verbosity=1``: with the traceback).
"""
from __future__ import annotations

import collections
import json
import os
import sys
import time

from rtt_jax import cli_errors
from rtt_jax.textbook import corpus_diversity
from rtt_jax.textbook.sections import TextbookSource


PROG = "python -m rtt_jax.textbook.generate"


def _define_flags(fv) -> None:
    from absl import flags
    flags.DEFINE_string("out", None, "output directory", flag_values=fv)
    flags.mark_flag_as_required("out", flag_values=fv)
    flags.DEFINE_integer("n", 1000, "sections to write (at least 1)", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "seed of the textbook source", flag_values=fv)
    flags.DEFINE_string("families", "", "comma-separated; default all", flag_values=fv)
    flags.DEFINE_string("levels", "", "comma-separated; default each family's train_levels",
                        flag_values=fv)
    flags.DEFINE_integer("check_filter", 0, "clean sections for the filter's clean-vs-corrupted "
                         "test, written as filter_check (0: skip)", lower_bound=0, flag_values=fv)


def _args(argv):
    a, rest = cli_errors.parse_flags(argv, _define_flags, PROG)
    if rest:
        cli_errors.usage_error(f"unexpected arguments: {' '.join(rest)}", PROG)
    if a.n < 1:
        cli_errors.usage_error(f"--n={a.n}: expected at least 1 section", PROG)
    try:
        level_list = [int(x) for x in a.levels.split(",") if x.strip()] or None
    except ValueError:
        cli_errors.usage_error(f"--levels={a.levels}: expected comma-separated integers, "
                               "e.g. 1,2,3", PROG)
    return a, level_list


def generate(a, level_list: list[int] | None) -> dict:
    """Write the sections and the report (the flags checked before any output)."""
    fams = [f.strip() for f in a.families.split(",") if f.strip()] or None
    try:
        src = TextbookSource(fams, level_list, a.seed)
    except KeyError as e:
        raise ValueError(f"--families: {e.args[0]}") from None
    except ValueError as e:
        raise ValueError(f"--levels={a.levels}: {e}") from None
    cli_errors.make_output_dir(a.out)
    records, t0 = [], time.time()
    path = os.path.join(a.out, "sections.jsonl")
    with cli_errors.naming(path), open(path, "w") as f:  # a full disk names the file
        for i in range(a.n):
            rec = {"i": i} | src[i].to_json()
            records.append(rec)
            f.write(json.dumps(rec) + "\n")
    seconds = time.time() - t0
    report = {
        "n": a.n, "seed": a.seed, "families": list(src.families),
        "sections_per_second": round(a.n / seconds, 1) if seconds else None,
        "by_family_level": dict(sorted(collections.Counter(
            f"{r['family']}/L{r['level']}" for r in records).items())),
        "diversity": corpus_diversity.corpus_diversity(records),
    }
    if a.check_filter:
        from rtt_jax.textbook import filter_eval  # trains the default classifier: only when asked
        report["filter_check"] = filter_eval.clean_vs_corrupted(a.check_filter)
    path = os.path.join(a.out, "generate_report.json")
    with cli_errors.naming(path), open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps({k: report[k] for k in ("n", "sections_per_second")}
                     | {k: report["diversity"].get(k) for k in
                        ("distinct_1", "distinct_2", "distinct_4", "template_entropy_bits",
                         "distinct_templates", "skill_entropy_bits")}
                     | ({"filter_precision": report["filter_check"]["precision"]}
                        if a.check_filter else {})))
    return report


def main(argv=None) -> int:
    """Generate per the flags in ``argv`` (default ``sys.argv[1:]``); the exit status."""
    a, level_list = _args(sys.argv[1:] if argv is None else argv)
    return cli_errors.run_reporting(lambda: generate(a, level_list), path=a.out,
                                    verbosity=a.verbosity)


if __name__ == "__main__":
    raise SystemExit(main())
