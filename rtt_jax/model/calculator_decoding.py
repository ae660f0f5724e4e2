"""Calculator-assisted decoding for GSM8K-style ``<<expr=value>>`` annotations.

Off by default; ``Sampler.generate(..., calculator=fn)`` turns it on, where
``fn(expr) -> str | None`` is the text of ``expr``'s value, or None when it
is not arithmetic (``rtt_jax.evaluation.calculator.safe_calculator``: a
parser over numbers and operators, never ``eval``). The model part evaluates
nothing itself: model text only reaches the function it is given. As in the
GSM8K paper's calculator: when the model writes ``<<expr=`` (an opened
``<<`` with no ``>>`` after it, then its first ``=``), the decode loop stops
that row (the traced ``stop_on_calculator`` rule), ``fn(expr)`` is called
and ``value>>`` is appended to the row's completion; the row then
decodes on from prompt + completion so far (a fresh prefill in the usual prompt
bucket, so rounds compile nothing new). An expression that does not evaluate
inserts nothing: the row simply resumes, and the model writes its own value.

Budget: every id of the completion, inserted ones included, counts towards
``max_new_tokens``; an insertion is cut short where the budget ends. A resumed
row samples as the same row index from the same step, so its random stream is
the one it would have had without the stop, and its current line keeps its
answer-line state (a ``#### `` line split by a stop still ends decoding).

The traced rule matches ``<``, ``>`` and ``=`` as single tokens, which is exact
for the byte tokenizer; with a tokenizer that merges them into longer tokens it
fires only where they come out as single tokens.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

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


def calculator_generate(sampler, prompts: Sequence[np.ndarray], max_new_tokens: int,
                        calculator: Calculator, **kw) -> list[np.ndarray]:
    """``sampler.generate_tokens(prompts, max_new_tokens, calculator=calculator, **kw)``:
    validated prompt ids -> completion ids, calculator results included."""
    tok = sampler.tokenizer
    if min(sampler.ids[k] for k in ("lt", "gt", "eq")) < 0:
        raise ValueError(f"tokenizer {tok.name!r}: the calculator needs '<', '>' and '=' "
                         "to be single tokens")
    n = len(prompts)
    ids = sampler.ids
    line_start = [p[-1] in (ids["newline"], ids["bos"]) for p in prompts]
    pieces: list[list[np.ndarray]] = [[] for _ in range(n)]
    used = np.zeros(n, np.int64)
    pending = list(range(n))
    while pending:
        done_ids = [np.concatenate([np.zeros(0, np.int32), *pieces[i]]) for i in pending]
        contexts = [np.concatenate([prompts[i], d]).astype(np.int32)
                    for i, d in zip(pending, done_ids)]
        # A resumed row keeps its row index, sampling step and answer-line state.
        rows = dict(row_ids=pending, step0=used[pending], limit=max_new_tokens - used[pending],
                    ans=[sampler.answer_state(d, line_start[i]) for i, d in zip(pending, done_ids)])
        outs = sampler.decode_rows(contexts, rows, stop_on_calculator=True, **kw)
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
