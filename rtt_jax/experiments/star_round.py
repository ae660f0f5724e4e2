"""One round of self-improvement (STaR, Zelikman et al. 2022): the model
samples traces one level beyond what it has mastered, keeps the verified
ones, rationalises its failures with the answer as a hint, and the next
round retrains on all it has kept so far.

    python -m rtt_jax.experiments.star_round --out=DIR --round=1 \
        --workdir=RUNS/round_0/seed_0 --previous=STEPS/seed_traces/seed_0 \
        --family=modular --style=running [--config=configs/experiments/star.py:cpu/round_0]

The previous round's config is the one its workdir saved (``config.json``);
a ``--config`` given as well wins (the star experiment passes it), unless it
changes the model or tokenizer that round trained with (one error line).

1. **Mastery.** The previous round's ``report.json`` gives answer accuracy per
   level of ``--family``; the mastered level is the highest L such that every
   level 1..L reaches ``--mastery``. The round targets L+1 (at most
   ``--max_level``), or ``--level`` when given (a fixed schedule of one level
   further per round). With ``--frontier_from=F`` it targets every level from
   F up to the frontier instead: the first level at or past F that the report
   scores below ``--mastery`` (one past the highest level evaluated if none
   is), at most ``--max_level``. When a report evaluates every level this is
   again one level past the mastered one; when it skips levels (1-8, 12, 16,
   24, ...), the round reaches as far as the evidence says the model holds
   up, and the checker keeps only what verifies there.
2. **Sampling.** For ``--problems`` fresh problems spread evenly over the
   target levels, ``--k``
   samples each at ``--temperature`` from the previous round's checkpoint
   (the KV-cache sampler, ``ModelTeacher``); a sample is kept when its answer
   and every step verify *in the prompted style* (so it trains with that
   style's prompt), distinct samples only.
3. **Rationalisation** (``--rationalize``): each problem with no kept sample
   is asked again with ``Hint: the answer is A.`` after its prompt; verified
   samples are kept under teacher ``star_rR_rationalized`` and train without
   the hint, as in STaR.
4. ``DIR/traces/traces.jsonl``: the previous round's dataset (``--previous``,
   a trace dataset directory: the seed set, or the last round's ``traces/``)
   and this round's kept traces: the next round's ``star`` source.
   ``DIR/done.json``: mastery, acceptance, records per level and source, and
   ``data_share``: each source's share of the next round's training examples,
   from ``--weights`` (the mixture weights of that round's sources, e.g.
   ``easy:0.7,star:0.3``) split within ``star`` by origin (``seed`` for the
   program-written seed set, ``star_rR_sampled`` / ``_rationalized``).

Model text is only parsed by the family's checkers, never executed.
"""
from __future__ import annotations

import collections
import json
import os
import time

from absl import app, flags
from ml_collections import config_flags

from rtt_jax import cli_errors

PROBLEM_SEED = 9_000_011  # + 1000 x experiment seed + round: fresh problems per round


def _define_flags():
    """Defines the flags (only when run as a program); returns the config flag."""
    flags.DEFINE_string("out", None, "Output directory (traces/ and done.json).")
    flags.DEFINE_integer("round", 1, "This round's number (1 = the first sampled round).")
    flags.DEFINE_string("workdir", None, "The previous round's workdir.")
    flags.DEFINE_string("previous", "", "The previous round's trace dataset directory "
                        "('' for none).")
    flags.DEFINE_string("family", "modular", "Task family.")
    flags.DEFINE_string("style", "running", "Trace style prompted and required.")
    flags.DEFINE_float("mastery", 0.9, "Accuracy at which a level counts as mastered.")
    flags.DEFINE_integer("max_level", 8, "Highest level sampled.", lower_bound=1)
    flags.DEFINE_integer("level", 0, "Sample at this level (0: one past the mastered "
                         "level, at most --max_level).", lower_bound=0)
    flags.DEFINE_integer("frontier_from", 0, "Sample every level from this one up to the "
                         "first one the report scores below --mastery (0: one level, "
                         "--level or one past the mastered one).", lower_bound=0)
    flags.DEFINE_integer("problems", 256, "Fresh problems, spread evenly over the target "
                         "levels.", lower_bound=1)
    flags.DEFINE_integer("k", 8, "Samples per problem.", lower_bound=1)
    flags.DEFINE_float("temperature", 0.8, "Sampling temperature.")
    flags.DEFINE_integer("max_new_tokens", 112, "Completion tokens per sample.")
    flags.DEFINE_bool("rationalize", True, "Ask again with the answer as a hint.")
    flags.DEFINE_string("weights", "", "The next round's mixture: source:weight,... "
                        "(its 'star' source is this dataset).")
    flags.DEFINE_integer("seed", 0, "The experiment seed (problems and sampling).")
    flags.mark_flags_as_required(["out", "workdir"])
    return config_flags.DEFINE_config_file(
        "config", None, "The previous round's config: FILE[:VARIANT/ARM], as rtt_jax.main "
        "takes it (default: the one its --workdir saved, config.json).")


def mastered_level(report: dict, family: str, threshold: float) -> tuple[int, dict[int, float]]:
    """(the highest L with every level 1..L at accuracy >= threshold (0: none),
    {level: accuracy}) from a run's report.json."""
    acc = {}
    for entry in report.get("sets", {}).values():
        if entry.get("family") == family and isinstance(entry.get("level"), int) \
                and isinstance(entry.get("answer_accuracy"), (int, float)):
            acc[entry["level"]] = float(entry["answer_accuracy"])
    level = 0
    while acc.get(level + 1, -1.0) >= threshold:
        level += 1
    return level, dict(sorted(acc.items()))


def frontier_levels(accuracy: dict[int, float], threshold: float, first: int,
                    max_level: int) -> list[int]:
    """Levels ``first``..frontier: the frontier is the first level >= ``first``
    whose accuracy is below ``threshold`` (one past the highest level in
    ``accuracy`` when none is), at most ``max_level``; always at least
    ``[first]``."""
    if first > max_level:
        raise ValueError(f"--frontier_from={first} is past --max_level={max_level}")
    failing = [lv for lv, a in sorted(accuracy.items()) if lv >= first and a < threshold]
    top = failing[0] if failing else max(accuracy, default=first - 1) + 1
    return list(range(first, max(first, min(top, max_level)) + 1))


def parse_weights(spec: str) -> dict[str, float]:
    out = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, w = part.partition(":")
        try:
            out[name.strip()] = float(w)
        except ValueError:
            raise ValueError(f"--weights={spec}: {part!r} is not source:weight") from None
        if out[name.strip()] < 0:
            raise ValueError(f"--weights={spec}: {part!r} has a negative weight")
    if out and "star" not in out:
        raise ValueError(f"--weights={spec}: no 'star' source (this round's traces)")
    return out


def data_share(weights: dict[str, float], by_teacher: collections.Counter) -> dict[str, float]:
    """Each source's share of the next round's examples: the mixture weights,
    with ``star`` split by the teacher that kept each record."""
    total = sum(weights.values())
    if not total:
        return {}
    out = {name: w / total for name, w in weights.items() if name != "star"}
    n = sum(by_teacher.values())
    for teacher, count in sorted(by_teacher.items()):
        out[teacher] = weights.get("star", 0.0) / total * count / n
    if not n:
        out["star"] = weights.get("star", 0.0) / total
    return out


def _origin(record) -> str:
    """Where a record of the round's dataset came from: ``seed`` (program-written
    seed set) or the round and way it was kept (``star_r1_sampled``)."""
    return "seed" if record.teacher == "program" else record.teacher


def run_round(out: str, round_: int, config, workdir: str, previous: str,
              family_name: str, style: str, mastery: float, max_level: int, problems: int,
              k: int, temperature: float, max_new_tokens: int, rationalize: bool,
              weights: dict[str, float], seed: int, level: int = 0,
              frontier_from: int = 0) -> dict:
    """Mastery, sampling, rationalisation and the cumulative dataset (module
    doc); returns done.json's dict."""
    from rtt_jax.evaluation.checkpoint_teacher import sample_fn_from_workdir
    from rtt_jax.traces.record import iter_json_lines, record_from_json, write_records
    from rtt_jax.traces.teachers import ModelTeacher
    from rtt_jax import tasks
    start = time.time()
    with open(os.path.join(workdir, "report.json"), encoding="utf-8") as f:
        report = json.load(f)
    mastered, accuracy = mastered_level(report, family_name, mastery)
    if frontier_from:
        levels = frontier_levels(accuracy, mastery, frontier_from, max_level)
    else:
        levels = [level or min(mastered + 1, max_level)]
    family = tasks.get(family_name)
    if style not in family.styles:
        raise ValueError(f"--style={style}: {family_name} has styles {list(family.styles)}")
    from rtt_jax import workdir_config
    from rtt_jax.config_validation import validate
    config = workdir_config.resolve(config, workdir)  # None: the workdir's config.json
    config.seed = seed
    spec = validate(config)
    sample_fn = sample_fn_from_workdir(spec, workdir, max_new_tokens=max_new_tokens,
                                       temperature=temperature, seed=1000 * seed + round_)
    pool = [family.generate(PROBLEM_SEED + 1000 * seed + round_, i, levels[i % len(levels)])
            for i in range(problems)]
    teacher = ModelTeacher(sample_fn, k, name=f"star_r{round_}_sampled",
                           prompt_style={family_name: style}, style_label="prompted")
    sampled = list(teacher.teach(pool))
    solved = {r.problem.index for r in sampled}
    rationalized, hint_stats = [], None
    failed = [p for p in pool if p.index not in solved]
    if rationalize and failed:
        hinted = ModelTeacher(sample_fn, k, name=f"star_r{round_}_rationalized",
                              prompt_style={family_name: style}, style_label="prompted",
                              hint=lambda p: f"Hint: the answer is {p.answer}.\n")
        rationalized = list(hinted.teach(failed))
        hint_stats = hinted.stats
    kept = []
    if previous:
        path = os.path.join(previous, "traces.jsonl")
        kept = [record_from_json(obj, where) for where, obj in iter_json_lines(path)]
    seen = {(r.problem.level, r.problem.index, r.problem.seed, r.text) for r in kept}
    for r in sampled + rationalized:
        key = (r.problem.level, r.problem.index, r.problem.seed, r.text)
        if key not in seen:
            seen.add(key)
            kept.append(r)
    os.makedirs(os.path.join(out, "traces"), exist_ok=True)
    write_records(os.path.join(out, "traces", "traces.jsonl"), kept)
    by_teacher = collections.Counter(_origin(r) for r in kept)
    per_level: dict[str, dict] = {}
    for r in kept:
        row = per_level.setdefault(str(r.problem.level), {})
        row[_origin(r)] = row.get(_origin(r), 0) + 1
    summary = {
        "title": f"round {round_}: mastered level {mastered} at >= {mastery:g}, "
                 f"sampled level {_span(levels)} ({problems} problems x k={k})",
        "traces": os.path.join(out, "traces"),
        "totals": {"round": round_, "mastered": mastered, "target_level": levels[-1],
                   "levels": levels,
                   "solved_rate": len(solved) / max(problems, 1),
                   "kept_sampled": len(sampled), "kept_rationalized": len(rationalized),
                   "rationalized_problems": len({r.problem.index for r in rationalized}),
                   "records": len(kept), "seconds": round(time.time() - start, 1)},
        "accuracy_before": {str(lv): a for lv, a in accuracy.items()},
        "sampling": teacher.stats.__dict__,
        "rationalizing": hint_stats.__dict__ if hint_stats else None,
        "per_level": dict(sorted(per_level.items(), key=lambda kv: int(kv[0]))),
        "data_share": data_share(weights, by_teacher),
    }
    with open(os.path.join(out, "done.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def _span(levels: list[int]) -> str:
    return str(levels[0]) if len(levels) == 1 else f"{levels[0]}-{levels[-1]}"


def main(argv) -> int:
    del argv
    f = flags.FLAGS

    def body() -> None:
        if not 0 < f.mastery <= 1:
            raise ValueError(f"--mastery={f.mastery}: expected a share in (0, 1]")
        if f.level and f.frontier_from:
            raise ValueError(f"--level={f.level} and --frontier_from={f.frontier_from}: "
                             "give one of them")
        weights = parse_weights(f.weights)
        s = run_round(f.out, f.round, f.config, f.workdir, f.previous, f.family, f.style,
                      f.mastery, f.max_level, f.problems, f.k, f.temperature,
                      f.max_new_tokens, f.rationalize, weights, f.seed, f.level,
                      f.frontier_from)["totals"]
        print(f"round {s['round']}: mastered {s['mastered']}, sampled level "
              f"{_span(s['levels'])}: kept {s['kept_sampled']} sampled and "
              f"{s['kept_rationalized']} rationalized traces; {s['records']} in all -> {f.out}")
    return cli_errors.run_reporting(body, path=f.out)


if __name__ == "__main__":
    app.run(main, flags_parser=cli_errors.flags_parser(_define_flags()))
