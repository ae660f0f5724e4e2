"""Calculator-assisted decoding for GSM8K-style ``<<expr=value>>`` annotations.

``generate_with_calculator(sampler, prompts, max_new_tokens, calculator=fn)``
(text) and ``calculator_generate`` (ids), where ``fn(expr) -> str | None`` is
the text of ``expr``'s value, or None when it is not arithmetic
(``rtt_jax.evaluation.calculator.safe_calculator``: a parser over numbers and
operators, never ``eval``); the sampler must carry the ``stops.CALCULATOR``
rule (``stops.make_sampler``). The model evaluates nothing itself: model text
only reaches the function it is given. As in the GSM8K paper's calculator:
when the model writes ``<<expr=`` (an opened ``<<`` with no ``>>`` after it,
then its first ``=``), the decode loop stops that row (the calculator stop
rule, switched on for these calls), ``fn(expr)`` is called and ``value>>`` is
appended to the row's completion; the row then decodes on from prompt +
completion so far (a fresh prefill in the usual prompt bucket, so rounds
compile nothing new). An expression that does not evaluate inserts nothing:
the row simply resumes, and the model writes its own value.

Budget: every id of the completion, inserted ones included, counts towards
``max_new_tokens``; an insertion is cut short where the budget ends. A resumed
row samples as the same row index from the same step, so its random stream is
the one it would have had without the stop, and every stop rule resumes in
the state it had (a ``#### `` line split by a stop still ends decoding).

The rule matches ``<``, ``>`` and ``=`` as single tokens, which is exact for
the byte tokenizer; a tokenizer that merges them into longer tokens is refused.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from rtt_jax.evaluation.stops import CALCULATOR

# expr -> the text of its value, or None when expr is not arithmetic it evaluates.
Calculator = Callable[[str], "str | None"]


def pending_expression(text: str) -> str | None:
    """``expr`` when ``text`` ends with ``<<expr=``: the text's last ``<<`` is
    not closed by a ``>>`` and its first ``=`` is the final character; else None."""
    if not text.endswith("="):
        return None
    start = text.rfind("<<")
    if start < 0 or ">>" in text[start + 2:]:
        return None
    expr = text[start + 2:-1]
    return None if "=" in expr else expr


def calculator_value(expr: str, calculator: Calculator) -> str | None:
    """The text the calculator writes for ``expr`` (``value>>``), or None when
    ``calculator`` does not evaluate it."""
    value = calculator(expr)
    return None if value is None else value + ">>"


def calculator_generate(sampler, prompt_ids: Sequence[Sequence[int]], max_new_tokens: int,
                        calculator: Calculator, *, temperature: float = 0.0, top_p: float = 1.0,
                        seed: int = 0, stop_on_eos: bool = True,
                        stops: Mapping[str, bool] | None = None,
                        recompute: bool = False) -> list[np.ndarray]:
    """``sampler.generate_tokens(prompt_ids, max_new_tokens, ...)`` with the
    calculator's results written in: prompt ids -> completion ids."""
    tok = sampler.tokenizer
    if CALCULATOR.name not in sampler.rule_ids:
        raise ValueError(f"the sampler has no {CALCULATOR.name!r} stop rule "
                         "(build it with rtt_jax.evaluation.stops.make_sampler)")
    if not CALCULATOR.matches_on(sampler.rule_ids[CALCULATOR.name]):
        raise ValueError(f"tokenizer {tok.name!r}: the calculator needs '<', '>' and '=' "
                         "to be single tokens")
    if sampler.processes > 1:
        raise ValueError("calculator runs a host loop per prompt and is single-host "
                         "only; sample without it on several hosts")
    if getattr(sampler.cfg, "positions", "rope") == "coupled":  # cfg: None for a scripted model
        raise ValueError("calculator resumes decoding from a longer prompt, which moves "
                         "where model.positions=coupled starts its completion ids; sample "
                         "without it")
    prompts = sampler.check_prompts(prompt_ids, max_new_tokens)
    stops = {**(stops or {}), CALCULATOR.name: True}
    n = len(prompts)
    pieces: list[list[np.ndarray]] = [[] for _ in range(n)]
    used = np.zeros(n, np.int64)
    pending = list(range(n))
    while pending:
        done_ids = [np.concatenate([np.zeros(0, np.int32), *pieces[i]]) for i in pending]
        contexts = [np.concatenate([prompts[i], d]).astype(np.int32)
                    for i, d in zip(pending, done_ids)]
        # A resumed row keeps its row index, sampling step and stop-rule states.
        states = {r.name: [r.state(sampler.rule_ids[r.name], prompts[i], d)
                           for i, d in zip(pending, done_ids)] for r in sampler.stop_rules}
        rows = dict(row_ids=pending, step0=used[pending], limit=max_new_tokens - used[pending],
                    states=states)
        outs = sampler.decode_rows(contexts, rows, temperature=temperature, top_p=top_p,
                                   seed=seed, stop_on_eos=stop_on_eos, stops=stops,
                                   recompute=recompute)
        resume = []
        for i, context, out in zip(pending, contexts, outs):
            pieces[i].append(out)
            used[i] += len(out)
            left = max_new_tokens - used[i]
            if left <= 0:
                continue
            expr = pending_expression(tok.decode(np.concatenate([context, out])))
            if expr is None:
                continue  # it stopped on EOS or the answer line
            result = calculator_value(expr, calculator)
            if result is not None:
                insert = np.asarray(tok.encode(result), np.int32)[:left]
                pieces[i].append(insert)
                used[i] += len(insert)
                if used[i] >= max_new_tokens:
                    continue
            resume.append(i)
        pending = resume
    return [np.concatenate([np.zeros(0, np.int32), *p]).astype(np.int32) for p in pieces]


def generate_with_calculator(sampler, prompts: list[str], max_new_tokens: int,
                             calculator: Calculator, temperature: float = 0.0,
                             top_p: float = 1.0, seed: int = 0, **kw) -> list[str]:
    """``sampler.generate(prompts, ...)`` with the calculator's results written
    in: the completion text of each prompt (special tokens dropped)."""
    ids = calculator_generate(sampler, [sampler.encode_prompt(p) for p in prompts],
                              max_new_tokens, calculator, temperature=temperature,
                              top_p=top_p, seed=seed, **kw)
    return [sampler.tokenizer.decode(t) for t in ids]
