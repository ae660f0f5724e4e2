"""What of a completion is scored: retracted lines and commentary set aside.

Two kinds of training data teach a model to write lines that are not claims
it stands by, and scoring them as steps would count them as wrong steps:

* retry traces (``rtt_jax.traces.retry``): a line followed by the marker
  line (``eval.retry_marker``, e.g. ``[retry]``) is taken back; the marker
  and the line it retracts are removed;
* explained traces (``rtt_jax.textbook.explained_traces``): lines starting
  with ``eval.commentary_prefix`` (e.g. ``Why:``) explain a step in words
  and are not read by the step checkers; they are removed.

The answer, the steps and their validity are then scored on what is left, and
the counts of retracted and commentary lines are reported per set. Both are
off by default (empty strings); an experiment sets them for all its arms, so
every arm is scored the same way.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ScoredText:
    text: str  # what the checkers read
    retracted: tuple[str, ...] = ()
    commentary: int = 0


def scored_text(text, retry_marker: str = "", commentary_prefix: str = ""):
    """``text`` as it is scored (non-text is passed through for the scorer to reject)."""
    if not isinstance(text, str) or not (retry_marker or commentary_prefix):
        return ScoredText(text)
    retracted: tuple[str, ...] = ()
    commentary = 0
    if commentary_prefix:
        from rtt_jax.textbook.explained_traces import drop_commentary
        text, commentary = drop_commentary(text, commentary_prefix)
    if retry_marker:
        from rtt_jax.traces.retry import resolve
        resolved = resolve(text, retry_marker)
        text, retracted = resolved.text, resolved.retracted
    return ScoredText(text, retracted, commentary)
