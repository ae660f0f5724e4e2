"""Build a trace dataset: problems -> teacher -> noise -> filters -> files.

    python -m rtt_jax.traces.build --config=configs/traces/default.py --out=DIR \
        [--config.problems_per_level=200] [--config.families=addition,gsm8k] ...

Any config field can be overridden as ``--config.a.b=v`` (see
``configs/traces/default.py`` for the fields). ``DIR`` must not already
hold a dataset. Writes:

* ``DIR/traces.jsonl``: the kept records (schema ``rtt_jax.trace/1``);
* ``DIR/tfds/rtt_traces/1.0.0/``: the same records as TFDS ArrayRecord
  (``write_tfds``), read back with
  ``tfds.data_source("rtt_traces", data_dir="DIR/tfds")``;
* ``DIR/dataset_card.json`` and ``DIR/dataset_card.md``: counts per family,
  level and style, the filter report, noise counts and diversity figures.

Progress is logged every ``log_every`` problems.

Bad input (a config file or override, an unknown family, levels that do not
parse, a JSONL file that is missing, not UTF-8, nested too deep or empty, an
``--out`` that is a file or read-only, a full disk) stops with one line
naming it (``rtt_jax.cli_errors``; the traceback with ``--verbosity=1``).
The inputs are checked before anything is written. An input file with no
records is an error unless ``--allow_empty``.

``teacher`` is ``"program"``, ``"jsonl"``, or a block with ``kind="openai"``
(any OpenAI-compatible server; ``rtt_jax.traces.openai_teacher`` and
``configs/traces/openai.py``). Records are written to
``traces.jsonl.partial`` and renamed at the end, so an interrupted build can
be run again with the same ``--out`` (the OpenAI teacher's reply cache,
``DIR/openai_cache/``, then saves paying twice).
"""
from __future__ import annotations

import os
import time
from typing import Any, Iterator

from absl import app, flags, logging
from ml_collections import config_flags

from rtt_jax import cli_errors, tasks
from rtt_jax.tasks.base import Problem
from rtt_jax.traces.card import CountsByFamily, write_card
from rtt_jax.traces.diversity import DiversityStats
from rtt_jax.traces.filters import FilterConfig, TraceFilter
from rtt_jax.traces.noise import NoiseConfig, NoiseInjector
from rtt_jax.traces.record import TraceRecord
from rtt_jax.traces.teachers import JsonlTeacher, ProgramTeacher



def _define_flags():
    """Only when run as a program: importing this module (the distillation
    step builds datasets with it) defines no flags. Returns the config flag."""
    flags.DEFINE_string("out", None, "Output directory for the dataset (created).")
    flags.DEFINE_bool("allow_empty", False, "Accept input files with no records (else an error).")
    return config_flags.DEFINE_config_file(
        "config", None, "Trace build config file (e.g. configs/traces/default.py[:arg]).",
        lock_config=True)


def parse_levels(spec: str) -> list[int] | None:
    """``""`` -> None (each family's train levels); ``"1-3,5"`` -> [1, 2, 3, 5]."""
    if not spec.strip():
        return None
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"config.levels: cannot read {part!r}; use e.g. '1-3,5'") from None
    return out


def _families(cfg) -> list[str]:
    return [f.strip() for f in cfg.families.split(",") if f.strip()]


def _lookup(cfg):
    """Family lookup that binds GSM8K to the configured file."""
    gsm8k_family = None

    def lookup(name: str):
        nonlocal gsm8k_family
        if name != "gsm8k" or not cfg.gsm8k_path:
            return tasks.get(name)
        if gsm8k_family is None:
            from rtt_jax.tasks.gsm8k import GSM8KFamily
            gsm8k_family = GSM8KFamily(cfg.gsm8k_path)
        return gsm8k_family
    return lookup


def iter_problems(cfg, lookup) -> Iterator[Problem]:
    """Problems 0..n-1 of every (family, level), in config order."""
    levels = parse_levels(cfg.levels)
    for name in _families(cfg):
        family = lookup(name)
        if name == "gsm8k":
            problems = family.problems()
            yield from problems[:cfg.problems_per_level]
            continue
        chosen = [lv for lv in (levels or family.train_levels) if lv in family.levels]
        if not chosen:
            logging.warning("%s: none of levels %s exist; skipped", name, cfg.levels)
        for level in chosen:
            for index in range(cfg.problems_per_level):
                yield family.generate(cfg.seed, index, level)


def _jsonl_paths(cfg) -> list[str]:
    return [p.strip() for p in cfg.jsonl_paths.split(",") if p.strip()]


def _has_records(path: str) -> bool:
    """Whether the file has a non-blank line (read only as far as the first)."""
    with open(path, "rb") as f:
        return any(line.strip() for line in f)


TEACHERS = ("program", "jsonl", "openai")


def teacher_kind(cfg) -> str:
    """``cfg.teacher`` as a name: a string, or a block's ``kind``."""
    t = cfg.teacher
    return t if isinstance(t, str) else str(t.get("kind", ""))


def _validate_openai(tc) -> None:
    from rtt_jax.traces.openai_teacher import APIS, PROMPTS
    for field in ("base_url", "model"):
        if not tc.get(field):
            raise ValueError(f"config.teacher.{field} is empty")
    if tc.get("api", "chat") not in APIS:
        raise ValueError(f"config.teacher.api must be one of {APIS}, got {tc.api!r}")
    if tc.get("prompt", "instructed") not in PROMPTS:
        raise ValueError(f"config.teacher.prompt must be one of {PROMPTS}, got {tc.prompt!r}")
    for field in ("k", "concurrency"):
        if int(tc.get(field, 1)) < 1:
            raise ValueError(f"config.teacher.{field}={tc.get(field)}: expected >= 1")
    prompts = tc.get("system_prompts")
    templates = {"system_prompt": tc.get("system_prompt") or ""}
    templates.update({f"system_prompts.{k}": v for k, v in (prompts or {}).items() if v})
    for field, template in templates.items():
        try:
            template.format(family="f", style="s", final_line="l", example="e")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"config.teacher.{field}: bad template ({type(e).__name__}: {e}); "
                             "fields are {family} {style} {final_line} {example}, "
                             "write a literal brace as {{ or }}") from None


def validate(cfg, allow_empty: bool = False) -> None:
    """Check the config's inputs before anything is written: raises
    ValueError, KeyError or OSError with a message naming the field or file."""
    kind = teacher_kind(cfg)
    if kind not in TEACHERS:
        raise ValueError(f"config.teacher must be one of {TEACHERS} (or a block with that "
                         f"kind), got {kind!r}")
    if kind == "openai":
        _validate_openai(cfg.teacher)
    parse_levels(cfg.levels)
    for field, make in (("noise", NoiseConfig), ("filters", FilterConfig)):
        try:
            make(**cfg[field].to_dict())
        except (TypeError, ValueError) as e:
            raise ValueError(f"config.{field}: {e}") from None
    inputs = []
    if kind == "jsonl":
        inputs = _jsonl_paths(cfg)
        if not inputs:
            raise ValueError("config.teacher='jsonl' needs config.jsonl_paths")
    else:
        names = _families(cfg)
        if not names:
            raise ValueError("config.families: no family named")
        for name in names:
            if name == "gsm8k":
                if not cfg.gsm8k_path:
                    raise ValueError("config.families has gsm8k: set config.gsm8k_path")
                inputs.append(cfg.gsm8k_path)
                continue
            try:
                tasks.get(name)
            except KeyError as e:
                raise ValueError(f"config.families: {e.args[0]}") from None
            except ImportError as e:  # rg/...: reasoning-gym is an optional extra
                raise ValueError(f"config.families: {name}: cannot import ({e})") from None
        if cfg.problems_per_level < 0:
            raise ValueError(f"config.problems_per_level={cfg.problems_per_level}: expected >= 0")
        if cfg.problems_per_level == 0 and not allow_empty:
            raise cli_errors.EmptyInputError("config.problems_per_level=0", "problems")
    for path in inputs:
        if not _has_records(path) and not allow_empty:
            raise cli_errors.EmptyInputError(path)


def styles_config(cfg) -> dict[str, list[str]]:
    return {name: [s.strip() for s in value.split(",") if s.strip()]
            for name, value in cfg.styles.items() if value}


def build(cfg, out_dir: str, transport: Any = None) -> dict[str, Any]:
    """Write the dataset to ``out_dir``; returns the card (also written).
    ``transport``: an ``httpx`` transport for the OpenAI teacher (tests)."""
    os.makedirs(out_dir, exist_ok=True)
    jsonl_path = os.path.join(out_dir, "traces.jsonl")
    if os.path.exists(jsonl_path):
        raise FileExistsError(f"{jsonl_path} exists; pick a fresh --out directory")
    lookup = _lookup(cfg)
    noise = NoiseInjector(NoiseConfig(**cfg.noise.to_dict()))
    filt = TraceFilter(FilterConfig(**cfg.filters.to_dict()), family_lookup=lookup)
    counts, diversity = CountsByFamily(), DiversityStats()
    start = time.perf_counter()
    problems = records_kept = 0
    kind, remote = teacher_kind(cfg), None

    if kind == "program":
        teacher = ProgramTeacher(styles_config(cfg), family_lookup=lookup)

        def produced() -> Iterator[TraceRecord]:
            nonlocal problems
            for problem in iter_problems(cfg, lookup):
                problems += 1
                yield from teacher.teach(problem)
                if problems % cfg.log_every == 0:
                    _log_progress(problems, records_kept, filt, start)
    elif kind == "openai":
        from rtt_jax.traces import openai_teacher
        remote = openai_teacher.from_config(
            cfg.teacher, styles_config(cfg), cache_dir=os.path.join(out_dir, "openai_cache"),
            transport=transport, family_lookup=lookup)

        def on_problem() -> None:
            nonlocal problems
            problems += 1
            if problems % cfg.log_every == 0:
                _log_progress(problems, records_kept, filt, start)

        def produced() -> Iterator[TraceRecord]:
            yield from remote.teach(iter_problems(cfg, lookup), on_problem)
    elif kind == "jsonl":
        paths = _jsonl_paths(cfg)
        if not paths:
            raise ValueError("config.teacher='jsonl' needs config.jsonl_paths")
        source = JsonlTeacher(paths, teacher=cfg.jsonl_teacher or None, family_lookup=lookup)

        def produced() -> Iterator[TraceRecord]:
            nonlocal problems
            for record in source:
                problems += 1
                yield record
                if problems % cfg.log_every == 0:
                    _log_progress(problems, records_kept, filt, start)
    else:
        raise ValueError(f"config.teacher must be one of {TEACHERS}, got {kind!r}")

    seen_problems: set[tuple] = set()
    partial = jsonl_path + ".partial"
    try:
        with cli_errors.naming(jsonl_path), open(partial, "w", encoding="utf-8") as f:
            for record in filt(noise(r) for r in produced()):
                f.write(record.to_line() + "\n")
                records_kept += 1
                p = record.problem
                key = (p.seed, p.level, p.index, p.question)
                seen_problems.add((p.family, *key))
                counts.add(record)
                diversity.add(record.family, record.style, key, record.text)
    finally:
        if remote is not None:
            remote.close()
    if remote is not None and remote.stats.samples and not remote.stats.responses:
        raise ValueError(f"{remote.base_url}: no usable reply to any of {remote.stats.samples} "
                         f"samples ({remote.stats.rejected}; last error: "
                         f"{remote.stats.last_error or 'none'})")
    with cli_errors.naming(jsonl_path):
        os.replace(partial, jsonl_path)
    seconds = time.perf_counter() - start

    _log_progress(problems, records_kept, filt, start)

    builder_dir = None
    if cfg.write_tfds:
        from rtt_jax.traces.tfds_writer import write_tfds  # tfds import is slow
        with cli_errors.naming(os.path.join(out_dir, "tfds")):
            builder_dir = write_tfds(jsonl_path, os.path.join(out_dir, "tfds"), split=cfg.split)
    card = {
        "name": "rtt_traces", "created_by": "python -m rtt_jax.traces.build",
        "config": cfg.to_dict(), "records": records_kept, "problems": len(seen_problems),
        "problems_generated": problems, "counts": counts.to_json(),
        "filter_report": filt.report.to_json(), "noise": noise.counts,
        "diversity": diversity.to_json(),
        "timing": {"seconds": round(seconds, 3),
                   "problems_per_sec": round(problems / seconds, 1) if seconds else 0.0},
        "files": {"jsonl": jsonl_path, "tfds_builder_dir": builder_dir},
    }
    if remote is not None:
        rejected = dict(remote.stats.rejected)
        for reason, n in filt.report.dropped.items():
            rejected[reason] = rejected.get(reason, 0) + n
        card["teacher"] = {**remote.card(), "kept": filt.report.kept,
                           "rejected_by_reason": dict(sorted(rejected.items()))}
    write_card(out_dir, card)
    return card


def _log_progress(problems: int, kept: int, filt: TraceFilter, start: float) -> None:
    elapsed = time.perf_counter() - start
    logging.info("%d problems, %d records seen, %d kept (%.0f problems/s); dropped %s",
                 problems, filt.report.seen, kept, problems / max(elapsed, 1e-9),
                 dict(filt.report.dropped))


def main(argv) -> int:
    if len(argv) > 1:
        return cli_errors.report(ValueError(f"unexpected arguments: {' '.join(argv[1:])}"))
    cfg = flags.FLAGS.config
    if cfg is None:
        return cli_errors.report(ValueError("--config=configs/traces/default.py is required"))
    out = flags.FLAGS.out

    def run() -> None:
        validate(cfg, flags.FLAGS.allow_empty)
        cli_errors.make_output_dir(out)
        card = build(cfg, out)
        logging.info("wrote %d records for %d problems to %s", card["records"],
                     card["problems"], out)
        print(f"wrote {card['records']} records to {out} "
              f"({card['timing']['problems_per_sec']} problems/s)")
    return cli_errors.run_reporting(run, path=out)


if __name__ == "__main__":
    app.run(main, flags_parser=cli_errors.flags_parser(_define_flags()))
