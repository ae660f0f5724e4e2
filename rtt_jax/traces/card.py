"""Dataset cards for trace datasets: ``dataset_card.json`` and ``dataset_card.md``.

The JSON card is the machine-readable truth::

    {"name", "schema", "created_by", "config": {...},
     "records": int, "problems": int,
     "counts": {family: {"records": int, "by_level": {level: n}, "by_style": {style: n},
                         "by_source": {source: n}}},
     "filter_report": FilterReport.to_json(),  # drops by first failed rule, and
                                               # "step_problems": every step finding
                                               # per family (kept records too)
     "noise": {"wrong_step": n, "skipped_step": n, "wrong_answer": n, "clean": n, "no_place": n},
     "diversity": DiversityStats.to_json(),
     "timing": {"seconds": float, "problems_per_sec": float},
     "files": {"jsonl": path, "tfds_builder_dir": path | null},
     "teacher": {...}}  # only for remote teachers (kind "openai": model, tokens, requests)

The Markdown card renders the same figures as tables for people. Step
checks get two views: the drop reasons (``steps_invalid:wrong_arithmetic``
apart from ``steps_invalid:ungrounded``, ``:answer_not_derived`` ...) and
every finding per family, so that with ``filters.require_grounded_steps``
off the card still says how many kept traces have ungrounded steps.
"""
from __future__ import annotations

import collections
import json
import os
from typing import Any

from rtt_jax.cli_errors import naming
from rtt_jax.traces.record import SCHEMA, TraceRecord


class CountsByFamily:
    """Kept-record counts per family, level, style and source."""

    def __init__(self):
        self._c: dict[str, dict[str, collections.Counter]] = collections.defaultdict(
            lambda: {"by_level": collections.Counter(), "by_style": collections.Counter(),
                     "by_source": collections.Counter()})

    def add(self, record: TraceRecord) -> None:
        c = self._c[record.family]
        c["by_level"][str(record.problem.level)] += 1
        c["by_style"][record.style] += 1
        c["by_source"][record.source] += 1

    def to_json(self) -> dict[str, Any]:
        return {fam: {"records": sum(c["by_style"].values()),
                      **{k: dict(sorted(v.items(), key=lambda kv: (len(kv[0]), kv[0])))
                         for k, v in c.items()}}
                for fam, c in sorted(self._c.items())}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(card: dict[str, Any]) -> str:
    out = [f"# {card['name']}", "",
           f"Trace records in schema `{card['schema']}`, built by `{card['created_by']}`.",
           f"{card['records']} records for {card['problems']} problems; built in "
           f"{card['timing']['seconds']:.1f} s ({card['timing']['problems_per_sec']:.0f} problems/s).",
           "", "## Counts", ""]
    out.append(_table(["family", "records", "levels", "styles", "sources"], [
        [fam, c["records"], ", ".join(f"{k}: {v}" for k, v in c["by_level"].items()),
         ", ".join(f"{k}: {v}" for k, v in c["by_style"].items()),
         ", ".join(f"{k}: {v}" for k, v in c["by_source"].items())]
        for fam, c in card["counts"].items()]))
    rep = card["filter_report"]
    out += ["", "## Filter report", "",
            f"Seen {rep['seen']}, kept {rep['kept']}.", ""]
    reasons = sorted({r for f in rep["by_family"].values() for r in f["dropped"]})
    out.append(_table(["family", "seen", "kept", *reasons], [
        [fam, f["seen"], f["kept"], *(f["dropped"].get(r, 0) for r in reasons)]
        for fam, f in rep["by_family"].items()]))
    problems = rep.get("step_problems") or {}
    kinds = sorted({k for f in problems.values() for k in f})
    if kinds:
        grounding = card.get("config", {}).get("filters", {}).get("require_grounded_steps", True)
        out += ["", "## Step checks", "",
                "Records (kept or dropped) in which the family's step checker found each "
                "problem; a record may have several. Ungrounded steps "
                + ("are dropped." if grounding else "are kept (filters.require_grounded_steps "
                   "is off)."), ""]
        out.append(_table(["family", *kinds], [
            [fam, *(f.get(k, 0) for k in kinds)] for fam, f in problems.items()]))
    teacher = card.get("teacher")
    if teacher:
        tok = teacher.get("tokens", {})
        out += ["", "## Teacher", "",
                f"`{teacher['kind']}` {teacher['model']} at {teacher['base_url']} "
                f"(api {teacher['api']}, k {teacher['k']}, temperature {teacher['temperature']}): "
                f"{teacher['requests']} requests ({teacher['retries']} retries, "
                f"{teacher['cache_hits']} cache hits, {teacher.get('twins', 0)} twins); tokens: prompt {tok.get('prompt', 0)}, "
                f"completion {tok.get('completion', 0)}. Kept {teacher.get('kept', 0)}; rejected: "
                + (", ".join(f"{k} {v}" for k, v in teacher.get("rejected_by_reason", {}).items())
                   or "none") + "."]
    noise = card["noise"]
    out += ["", "## Noise injected", "",
            ", ".join(f"{k}: {v}" for k, v in noise.items()) or "none"]
    div = card["diversity"]
    ns = [k for k in div if k.startswith("distinct_")]
    out += ["", "## Diversity", "",
            f"Overall: {', '.join(f'{k} {div[k]}' for k in ns)}; style entropy "
            f"{div['style_entropy_bits']} bits; {div['mean_styles_per_problem']} styles per problem.",
            ""]
    out.append(_table(["family", *ns, "style entropy (bits)", "styles per problem"], [
        [fam, *(d[k] for k in ns), d["style_entropy_bits"], d["mean_styles_per_problem"]]
        for fam, d in div["by_family"].items()]))
    out += ["", "## Build config", "", "```json", json.dumps(card["config"], indent=2,
                                                             sort_keys=True), "```", ""]
    return "\n".join(out)


def write_card(out_dir: str, card: dict[str, Any]) -> None:
    card = {"schema": SCHEMA, **card}
    path = os.path.join(out_dir, "dataset_card.json")
    with naming(path), open(path, "w", encoding="utf-8") as f:  # a full disk names the file
        json.dump(card, f, indent=2, sort_keys=True)
        f.write("\n")
    path = os.path.join(out_dir, "dataset_card.md")
    with naming(path), open(path, "w", encoding="utf-8") as f:
        f.write(render_markdown(card))
