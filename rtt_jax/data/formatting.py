"""Example formatting: (prompt, completion) text -> tokens and a loss mask.

The text format (one per example, before packing)::

    <BOS>{prompt}{completion}<EOS>

    prompt      the question, ending with whatever separator the family wants
                (families end it with "\\n"; Lee et al. addition prompts with "=")
    completion  trace lines, then the final-answer marker line, e.g.
                    3 chickens have 3 * 2 = 6 legs.
                    4 cows have 4 * 4 = 16 legs.
                    In total: 6 + 16 = 22 legs.
                    #### 22
                (``rtt_jax.tasks.answers.ANSWER_MARKER``)

Target modes (which tokens carry ``loss_mask = 1``):

* ``trace``: the completion (trace + answer line) and EOS.
* ``answer_only``: the same prompt, but the completion is replaced by just
  its ``#### answer`` line (found with ``extract_final_answer``, or given as
  ``answer=``); loss on that line and EOS. The no-trace baseline.
* ``full``: every token but BOS (textbook text: usually ``prompt=""``).

``prompt_loss=True`` (a source's ``prompt_loss`` field) adds the prompt's
tokens to the targets of a ``trace`` or ``answer_only`` example: ``trace``
then equals ``full``, and ``answer_only`` trains on the question and the
answer line. Predicting the prompt makes the model read its names and numbers
as targets too, which is what issue 26 measured on prompt-grounded tasks
(docs/recipes.md, "word_problems").

BOS is never a target: nothing precedes it in its segment, and the train step
only counts token t when t - 1 is in the same segment. EOS is always a target,
so the model learns to stop.

Prompt and completion are encoded separately, then concatenated: at
evaluation the prompt is encoded alone and the model continues from it, so
training must see the same prompt tokens (a subword tokenizer could
otherwise merge across the boundary).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from rtt_jax.tasks.answers import ANSWER_MARKER, extract_final_answer

TRACE, ANSWER_ONLY, FULL = "trace", "answer_only", "full"
MODES = (TRACE, ANSWER_ONLY, FULL)


@dataclasses.dataclass(frozen=True, eq=False)
class Example:
    """One tokenized example: ``tokens`` and ``loss_mask``, int32 [n] each.

    ``loss_mask[t] = 1`` marks token t as a target (predicted from t - 1).
    """

    tokens: np.ndarray
    loss_mask: np.ndarray

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @functools.cached_property  # read per example by the packer; arrays never change
    def num_targets(self) -> int:
        return int(self.loss_mask.sum())


def check_example(example: Example, where: str = "example") -> None:
    """Raises ValueError (one line, naming ``where``) if the example is unusable."""
    t, m = example.tokens, example.loss_mask
    if t.ndim != 1 or m.shape != t.shape:
        raise ValueError(f"{where}: tokens {t.shape} and loss_mask {m.shape} must be equal 1-D shapes")
    if len(t) == 0:
        raise ValueError(f"{where}: no tokens")
    if not m.any():
        # An all-zero mask would be packed, cost compute and train nothing;
        # it always means a formatting bug upstream, so fail loudly.
        raise ValueError(f"{where}: loss_mask is all zero (no target tokens)")
    if m[0]:
        raise ValueError(f"{where}: the first token cannot be a target (nothing precedes it)")


def answer_line(completion: str, answer: str | None = None) -> str:
    """The ``#### answer`` line of a completion (or built from ``answer``)."""
    if answer is None:
        answer = extract_final_answer(completion)
        if answer is None:
            raise ValueError("answer_only: the completion has no "
                             f"'{ANSWER_MARKER} answer' line and no answer= was given "
                             f"(completion starts {completion[:60]!r})")
    return f"{ANSWER_MARKER} {answer}"


def format_example(prompt: str, completion: str, mode: str, tokenizer, *,
                   answer: str | None = None, prompt_loss: bool = False) -> Example:
    """Tokens ``[BOS] prompt completion [EOS]`` and the mask of ``mode``'s targets.

    ``answer`` overrides the answer taken from the completion in
    ``answer_only`` mode (for formats without a marker line); ``prompt_loss``
    makes the prompt's tokens targets as well (module doc).
    """
    if mode not in MODES:
        raise ValueError(f"unknown target mode {mode!r}; expected one of {MODES}")
    if mode == ANSWER_ONLY:
        completion = answer_line(completion, answer)
    p = tokenizer.encode(prompt)
    c = tokenizer.encode(completion)
    if mode == FULL and len(p) + len(c) == 0 or mode != FULL and len(c) == 0:
        raise ValueError(f"{mode} example has an empty {'text' if mode == FULL else 'completion'}"
                         f" (prompt starts {prompt[:60]!r}): only EOS would be a target")
    # Filled in place (not np.concatenate of lists): this runs once per
    # training example and dominates the input pipeline's cost.
    n_p, n = len(p), len(p) + len(c) + 2
    tokens = np.empty(n, np.int32)
    tokens[0], tokens[1:1 + n_p], tokens[1 + n_p:n - 1], tokens[n - 1] = (
        tokenizer.bos_id, p, c, tokenizer.eos_id)
    mask = np.zeros(n, np.int32)
    mask[1 if mode == FULL or prompt_loss else 1 + n_p:] = 1
    example = Example(tokens, mask)
    check_example(example, f"{mode} example")
    return example
