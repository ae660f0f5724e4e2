"""The stop rules evaluation samples with, and the samplers that carry them.

* ``ANSWER_LINE`` (on by default): stop at the end of the final-answer line,
  a line that starts with ``#### `` (``rtt_jax.tasks.answers.ANSWER_MARKER``
  and a space), so a completion ends where its answer is written.
* ``CALCULATOR`` (off by default; ``calculator_decoding`` switches it on):
  stop right after the first ``=`` inside an open ``<<``, where GSM8K's
  calculator annotations ``<<expr=value>>`` write their result.

The machines are the model part's generic ones (``rtt_jax.model.stop_rules``);
this module only says which strings they match. ``make_sampler`` is
``Sampler`` with these rules, what every evaluation, serving and teacher
sampler is built with.
"""
from __future__ import annotations

from rtt_jax.model.sampler import Sampler
from rtt_jax.model.stop_rules import FirstInside, LineStartsWith
from rtt_jax.tasks.answers import ANSWER_MARKER

ANSWER_LINE = LineStartsWith("answer_line", ANSWER_MARKER + " ")
CALCULATOR = FirstInside("calculator", opener="<<", closer=">>", at="=")
STOP_RULES = (ANSWER_LINE, CALCULATOR)


def make_sampler(graphdef, params, tokenizer, model_cfg, max_len: int, **kw) -> Sampler:
    """A ``Sampler`` (same arguments) that stops on EOS and the answer line,
    and can pause on a calculator annotation."""
    return Sampler(graphdef, params, tokenizer, model_cfg, max_len, stop_rules=STOP_RULES, **kw)
