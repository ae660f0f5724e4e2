"""Diversity figures for a textbook corpus, generated or filtered.

Reuses ``rtt_jax.traces.diversity``: distinct-n over word n-grams (overall and
per family) and Shannon entropy in bits. Textbook records have no solver
"style", so the style slot carries the section's template id; entropies are
also reported for the skill and for each template axis separately, since the
full template id is almost always unique (that is the point of it).
Records without the textbook fields (a web corpus being filtered) get only the
distinct-n figures.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from rtt_jax.traces import diversity

_AXIS_RE = re.compile(r"([a-zA-Z])(\d*)")


def corpus_diversity(records: Iterable[Mapping[str, Any]], ns=(1, 2, 3, 4),
                     max_texts: int = 100_000) -> dict[str, Any]:
    """Distinct-n (first ``max_texts`` texts per family) and template/skill entropy (all)."""
    stats = diversity.DiversityStats(ns=ns, max_texts=max_texts)
    template_ids, skills = [], []
    for i, rec in enumerate(records):
        tid = rec.get("template_id") or "none"
        stats.add(rec.get("family") or "all", tid, (i,), rec["text"])
        if rec.get("template_id"):
            template_ids.append(tid)
        if rec.get("skill"):
            skills.append(rec["skill"])
    out = stats.to_json()
    out.pop("mean_styles_per_problem", None)
    out.pop("style_entropy_bits", None)
    for fam in out["by_family"].values():
        for k in ("styles", "mean_styles_per_problem"):
            fam.pop(k, None)
        fam["template_entropy_bits"] = fam.pop("style_entropy_bits")
    if template_ids:
        out["template_entropy_bits"] = round(diversity.style_entropy(template_ids), 4)
        out["distinct_templates"] = len(set(template_ids))
        axes: dict[str, list[str]] = {}
        for tid in template_ids:
            for axis, value in _AXIS_RE.findall(tid):
                axes.setdefault(axis.lower(), []).append(axis + value)
        out["template_axis_entropy_bits"] = {a: round(diversity.style_entropy(v), 4)
                                             for a, v in sorted(axes.items())}
    out["distinct_n_max_texts_per_family"] = max_texts
    if skills:
        out["skill_entropy_bits"] = round(diversity.style_entropy(skills), 4)
    return out
