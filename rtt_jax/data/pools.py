"""Fixed pools of training examples: the data arms of the seed's-levers experiments.

A pool is a finite list of (prompt, completion) records written once, by a
*recipe*, from a fixed set of problems: problem ``i`` of level ``L`` is
``family.generate(seed, i, L)`` for ``i < per_level`` (the training seed,
so an evaluation can draw the very problems a run trained on:
``eval.seen_n_per_level``). Training reads the pool as a ``jsonl`` source,
in shuffled epochs, so a small pool is repeated to fill the token budget
(the data-limited regime) and a large one is read about once.

Recipes (``RECIPES``; ``NAME[:key=value...]`` on the command line):

* ``terse``: the ``running`` trace of each problem.
* ``explained``: the same trace with textbook sentences where a line starts
  from a carried value (``textbook.explained_traces``).
* ``web``: the terse traces, a share (``share``, default 0.5) given one
  web-like defect each: a skipped step, notation drifting mid-trace, or forum
  filler (``textbook.web_like``).
* ``web_filtered``: web-like texts of problems 0, 1, 2, ... at each level
  (defects dealt as in ``web``), kept only when the family's checkers verify
  them (answer right, every step valid and grounded) *and* a quality
  classifier trained on other problems' clean and web-like texts scores them
  as clean; problems are drawn past ``per_level`` until each level has
  ``per_level`` kept (topped up to the pool's size).
* ``misconception``: a share ``rate`` of the problems whose correct trace
  the bug changes are written by a misconceived author (``traces.
  misconception``); with ``filter=steps`` (or ``answer``) records failing the
  step checkers (or only the answer check) are dropped and the level topped
  up from further problems; with ``retry=1`` the misconceived lines are
  followed by ``[retry]`` and the correct line (``traces.retry``).
* ``canonical`` / ``strategies`` / ``surface`` with ``k``: each problem ``k``
  times: the ``running`` trace repeated; ``k`` different styles (strategies:
  running, rewrite, exact, pairwise); the running trace in ``k`` surface
  forms (``traces.surface_forms``, the question too).

Prompts: ``prompt=cue`` (the default) is the family's prompt for the
``running`` style, cue line included, what evaluation sends; ``prompt=
question`` is the question alone (for pools that mix styles: evaluation then
sends the question and reads any style). Every record carries what the
report and the tests need: its level, problem index, kind, and the lines
where the misconception applies and was applied.

``python -m rtt_jax.data.pools --out=DIR --seed=S --per_level=N --pools=
NAME=RECIPE[:k=v...],...`` writes ``DIR/NAME.jsonl`` for each and
``DIR/done.json`` (an experiment step's summary: records, unique problems,
characters, defect and bug shares per pool).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import random
from typing import Any, Callable, Iterator

from rtt_jax import tasks
from rtt_jax.tasks.answers import ANSWER_MARKER
from rtt_jax.tasks.base import Problem, make_rng_seed
from rtt_jax.textbook import web_like
from rtt_jax.textbook.explained_traces import explained_completion
from rtt_jax.traces import misconception, retry, surface_forms

FAMILY, STYLE = "modular", "running"
STRATEGIES = ("running", "rewrite", "exact", "pairwise")
# Record kinds that carry a flaw (a web-like defect, the misconception, a retry).
FLAWED_KINDS = web_like.KINDS + ("buggy", "retry")


@dataclasses.dataclass(frozen=True)
class PoolRecord:
    prompt: str
    completion: str
    level: int
    index: int  # the problem: family.generate(seed, index, level)
    kind: str  # what this record is: "clean", "skipped_step", "buggy", a style, a form
    applicable: int = 0  # lines where the misconception applies
    buggy: int = 0  # ... and was applied

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PoolSpec:
    family: str
    seed: int
    levels: tuple[int, ...]
    per_level: int
    prompt: str = "cue"  # "cue" (running style's prompt) or "question"


def _prompt(family, problem: Problem, spec: PoolSpec) -> str:
    if spec.prompt == "question":
        return problem.question + "\n"
    return family.format_example(problem, STYLE)[0]


def _problems(family, spec: PoolSpec, level: int, start: int = 0) -> Iterator[Problem]:
    i = start
    while True:
        yield family.generate(spec.seed, i, level)
        i += 1


def _rng(spec: PoolSpec, *parts) -> random.Random:
    return random.Random(make_rng_seed(spec.seed, "pool", *parts))


def _lines(text: str) -> list[str]:
    return [ln for ln in text.split("\n") if not ln.startswith(ANSWER_MARKER)]


def _with_answer(lines, answer: str) -> str:
    return "\n".join([*lines, f"{ANSWER_MARKER} {answer}"])


# ---- recipes: spec, params -> records ------------------------------------------------

def terse(family, spec: PoolSpec) -> list[PoolRecord]:
    out = []
    for level in spec.levels:
        for p in _take(_problems(family, spec, level), spec.per_level):
            out.append(PoolRecord(_prompt(family, p, spec), family.format_example(p, STYLE)[1],
                                  level, p.index, "clean"))
    return out


def explained(family, spec: PoolSpec) -> list[PoolRecord]:
    return [dataclasses.replace(r, completion=explained_completion(
        family, family.generate(spec.seed, r.index, r.level), variant=r.index),
        kind="explained") for r in terse(family, spec)]


def _web_text(family, p: Problem, kind: str | None, rng: random.Random) -> str:
    lines = _lines(family.format_example(p, STYLE)[1])
    if kind is not None:
        lines = web_like.degrade(lines, kind, rng)
    return _with_answer(lines, p.answer)


def web(family, spec: PoolSpec, share: float = 0.5) -> list[PoolRecord]:
    out = []
    for level in spec.levels:
        kinds = web_like.web_pool_kinds(spec.per_level, share, _rng(spec, "web", level))
        rng = _rng(spec, "web_text", level)
        for p, kind in zip(_take(_problems(family, spec, level), spec.per_level), kinds):
            out.append(PoolRecord(_prompt(family, p, spec), _web_text(family, p, kind, rng),
                                  level, p.index, kind or "clean"))
    return out


def trace_quality_classifier(family, seed: int, n_per_level: int = 40, levels=range(1, 9)):
    """A quality classifier (``textbook.classifier``) trained to tell clean
    traces from web-like ones, on problems no pool uses (another seed): a
    FineWeb-Edu-style filter, labelled by how the texts were made."""
    from rtt_jax.textbook import classifier
    rng = random.Random(make_rng_seed(seed, "quality_labels"))
    texts, labels = [], []
    for level in levels:
        for i in range(n_per_level):
            p = family.generate(make_rng_seed(seed, "quality_problems") % (1 << 31), i, level)
            texts.append(_web_text(family, p, None, rng))
            labels.append(1)
            texts.append(_web_text(family, p, web_like.KINDS[i % len(web_like.KINDS)], rng))
            labels.append(0)
    return classifier.train(texts, labels, dim=2 ** 16, steps=200)


def web_filtered(family, spec: PoolSpec, share: float = 0.5,
                 stats: dict | None = None) -> list[PoolRecord]:
    quality = trace_quality_classifier(family, spec.seed)
    stats = stats if stats is not None else {}
    out = []
    for level in spec.levels:
        kinds = web_like.web_pool_kinds(4 * spec.per_level + 8, share, _rng(spec, "web", level))
        rng = _rng(spec, "web_text", level)
        kept = 0
        for p, kind in zip(_problems(family, spec, level), kinds):
            if kept == spec.per_level:
                break
            text = _web_text(family, p, kind, rng)
            checked = family.check_answer(p, text, STYLE) and _steps_ok(family, p, text)
            clean_score = float(quality.score(text)) >= 0.5
            reason = "+".join(([] if checked else ["checker"]) +
                              ([] if clean_score else ["classifier"]))
            stats[reason or "kept"] = stats.get(reason or "kept", 0) + 1
            if not reason:
                out.append(PoolRecord(_prompt(family, p, spec), text, level, p.index,
                                      kind or "clean"))
                kept += 1
        if kept < spec.per_level:
            raise ValueError(f"web_filtered: level {level}: only {kept} of "
                             f"{4 * spec.per_level + 8} web-like texts passed the filters")
    return out


def _steps_ok(family, p: Problem, text: str) -> bool:
    report = family.check_steps(p, text, STYLE)
    return report.all_valid and report.answer_follows


def misconceived(family, spec: PoolSpec, rate: float, filter: str = "",
                 retry_lines: bool = False) -> list[PoolRecord]:
    """The misconception recipe (module doc). Which problems get a misconceived
    author is a hash of (seed, level, index) against ``rate``, among the
    problems the bug applies to, so arms with the same rate share them."""
    if filter not in ("", "steps", "answer"):
        raise ValueError(f"misconception filter={filter!r}: expected '', 'steps' or 'answer'")
    out = []
    for level in spec.levels:
        kept = 0
        for p in _problems(family, spec, level):
            if kept == spec.per_level:
                break
            author_errs = _rng(spec, "misconceived", level, p.index).random() < rate
            lines = misconception.write(p, buggy=author_errs and not retry_lines)
            applicable = sum(ln.applies for ln in lines)
            if retry_lines:  # the correct chain, each line the author gets wrong retried
                wrong = [_buggy_line(ln.text) if author_errs and ln.applies else None
                         for ln in lines]
                text = _with_answer(retry.with_retries([ln.text for ln in lines], wrong),
                                    p.answer)
                n_buggy = sum(w is not None for w in wrong)
                kind = "retry" if n_buggy else "clean"
            else:
                text = _with_answer([ln.text for ln in lines], misconception.answer(lines, p))
                n_buggy = sum(ln.buggy for ln in lines)
                kind = "buggy" if n_buggy else "clean"
            if filter == "steps" and not (family.check_answer(p, text, STYLE)
                                          and _steps_ok(family, p, text)):
                continue
            if filter == "answer" and not family.check_answer(p, text, STYLE):
                continue
            out.append(PoolRecord(_prompt(family, p, spec), text, level, p.index, kind,
                                  applicable, n_buggy))
            kept += 1
    return out


def _buggy_line(correct_line: str) -> str:
    """``x-y=-d`` (the correct line, the bug applying) as the misconception writes it."""
    head, _, _ = correct_line.rpartition("=")
    x, y = (int(v) for v in head.rsplit("-", 1))
    return f"{head}={misconception.buggy_result(x, y)}"


def k_traces(family, spec: PoolSpec, variety: str, k: int = 4) -> list[PoolRecord]:
    """Each problem ``k`` times: ``canonical`` (the running trace repeated),
    ``strategies`` (``k`` different styles) or ``surface`` (the running trace
    in ``k`` surface forms, question and lines)."""
    names = {"canonical": (STYLE,) * k, "strategies": STRATEGIES[:k],
             "surface": surface_forms.TRAINING_FORMS[:k]}.get(variety)
    if names is None or len(names) < k:
        raise ValueError(f"k_traces: variety={variety!r} with k={k}: expected canonical, "
                         f"strategies (k <= {len(STRATEGIES)}) or surface "
                         f"(k <= {len(surface_forms.TRAINING_FORMS)})")
    out = []
    for level in spec.levels:
        for p in _take(_problems(family, spec, level), spec.per_level):
            for name in names:
                if variety == "surface":
                    q = surface_forms.rewrite_problem(p, name)
                    lines = surface_forms.rewrite_lines(_lines(family.format_example(p, STYLE)[1]),
                                                        name)
                    out.append(PoolRecord(_prompt(family, q, spec),
                                          _with_answer(lines, p.answer), level, p.index, name))
                else:
                    out.append(PoolRecord(_prompt(family, p, spec),
                                          family.format_example(p, name)[1], level, p.index,
                                          name))
    return out


def _take(it: Iterator, n: int) -> list:
    return [next(it) for _ in range(n)]


RECIPES: dict[str, Callable[..., list[PoolRecord]]] = {
    "terse": terse, "explained": explained, "web": web, "web_filtered": web_filtered,
    "misconception": misconceived,
    "canonical": lambda f, s, k=4: k_traces(f, s, "canonical", k),
    "strategies": lambda f, s, k=4: k_traces(f, s, "strategies", k),
    "surface": lambda f, s, k=4: k_traces(f, s, "surface", k),
}
_PARAMS = {"share": float, "rate": float, "filter": str, "retry": lambda v: bool(int(v)),
           "k": int}


def parse_recipe(text: str) -> tuple[str, dict]:
    """``"misconception:rate=0.6:filter=steps"`` -> ("misconception", {...})."""
    name, *parts = text.split(":")
    if name not in RECIPES:
        raise ValueError(f"pool recipe {text!r}: unknown recipe {name!r}; known: "
                         f"{', '.join(RECIPES)}")
    params = {}
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or key not in _PARAMS:
            raise ValueError(f"pool recipe {text!r}: {part!r} is not key=value with a key "
                             f"among {', '.join(_PARAMS)}")
        try:
            params["retry_lines" if key == "retry" else key] = _PARAMS[key](value)
        except ValueError:
            raise ValueError(f"pool recipe {text!r}: {key}={value!r} does not parse") from None
    return name, params


def build(recipe: str, spec: PoolSpec, stats: dict | None = None) -> list[PoolRecord]:
    name, params = parse_recipe(recipe)
    family = tasks.get(spec.family)
    if name == "web_filtered":
        params["stats"] = stats
    return RECIPES[name](family, spec, **params)


def summary(records: list[PoolRecord]) -> dict[str, Any]:
    """What a pool holds: records, unique problems, characters (the byte
    tokenizer's tokens, less BOS/EOS), kinds, the share of records with a
    flaw (``FLAWED_KINDS``), and the misconception's share of the lines it
    applies to."""
    kinds = collections.Counter(r.kind for r in records)
    applicable = sum(r.applicable for r in records)
    chars = sum(len(r.prompt) + len(r.completion) for r in records)
    return {"records": len(records),
            "unique_problems": len({(r.level, r.index) for r in records}),
            "characters": chars, "completion_characters": sum(len(r.completion) for r in records),
            "kinds": dict(sorted(kinds.items())),
            "flawed_share": round(sum(kinds[k] for k in FLAWED_KINDS) / len(records), 4)
            if records else None,
            "bug_applicable_lines": applicable,
            "buggy_line_share": round(sum(r.buggy for r in records) / applicable, 4)
            if applicable else None}


def write_pools(out: str, pools: dict[str, str], spec: PoolSpec) -> dict[str, Any]:
    """Build every ``{name: recipe}`` pool into ``out/NAME.jsonl``; returns
    (and writes as ``out/done.json``) the summary."""
    os.makedirs(out, exist_ok=True)
    rows = {}
    for name, recipe in pools.items():
        stats: dict = {}
        records = build(recipe, spec, stats)
        path = os.path.join(out, f"{name}.jsonl")
        with open(path + ".partial", "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
        os.replace(path + ".partial", path)
        rows[name] = summary(records) | {"recipe": recipe} | (
            {"filter": dict(sorted(stats.items()))} if stats else {})
    done = {"title": f"pools of {spec.family} problems, {spec.per_level} per level at levels "
                     f"{spec.levels[0]}-{spec.levels[-1]}, seed {spec.seed}",
            "totals": {"pools": len(rows), "per_level": spec.per_level}, "row_label": "pool",
            "per_level": {name: {k: v for k, v in row.items() if not isinstance(v, dict)}
                          for name, row in rows.items()},
            "pools": rows}
    with open(os.path.join(out, "done.json"), "w", encoding="utf-8") as f:
        json.dump(done, f, indent=1)
    return done


def _define_flags() -> None:
    from absl import flags
    flags.DEFINE_string("out", None, "Output directory: NAME.jsonl per pool and done.json.")
    flags.DEFINE_string("pools", None, "NAME=RECIPE[:key=value...],... (module doc).")
    flags.DEFINE_string("family", FAMILY, "Task family (pools are written for modular).")
    flags.DEFINE_string("levels", "1-8", "Levels, e.g. 1-8.")
    flags.DEFINE_integer("per_level", None, "Problems per level.", lower_bound=1)
    flags.DEFINE_integer("seed", 0, "The training seed: problem i of level L is "
                         "generate(seed, i, L).")
    flags.DEFINE_enum("prompt", "cue", ["cue", "question"],
                      "cue: the running style's prompt; question: the question alone.")
    flags.mark_flags_as_required(["out", "pools", "per_level"])


def main(argv) -> int:
    from absl import flags

    from rtt_jax import cli_errors
    from rtt_jax.data.curriculum import parse_levels
    del argv
    a = flags.FLAGS

    def run() -> None:
        if a.family != FAMILY:
            raise ValueError(f"--family={a.family}: pools are written for {FAMILY}")
        pools = {}
        for item in a.pools.split(","):
            name, eq, recipe = item.partition("=")
            if not eq or not name or "/" in name:
                raise ValueError(f"--pools: {item!r} is not NAME=RECIPE")
            parse_recipe(recipe)  # every recipe checked before anything is written
            pools[name] = recipe
        spec = PoolSpec(a.family, a.seed, parse_levels(a.levels, "--levels"), a.per_level,
                        a.prompt)
        cli_errors.make_output_dir(a.out)
        done = write_pools(a.out, pools, spec)
        print(json.dumps(done["per_level"]))
    return cli_errors.run_reporting(run, path=a.out)


if __name__ == "__main__":
    from absl import app

    from rtt_jax import cli_errors
    _define_flags()
    app.run(main, flags_parser=cli_errors.flags_parser())
