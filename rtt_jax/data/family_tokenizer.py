"""A SentencePiece tokenizer trained on task families' own text, named by a spec.

``config.data.tokenizer = "family:word_problem:640"`` trains a BPE tokenizer
of at most 640 ids (specials and byte pieces included; fewer when the
family's text has fewer distinct pieces, as ``expressions`` does) on the examples of the
``word_problem`` family, exactly as a run formats them (question, style cue,
trace, ``####`` line), in every style, at the family's training levels. Several
families: ``"family:counting,word_problem:768"``.

Why: with the byte tokenizer a name is 3-5 ids and a word problem of three
relations is ~370 ids, so copying a name or number from the prompt takes an
induction over several tokens, and a small model spends most of its budget
before it copies at all (docs/recipes.md, "Prompt-grounded tasks"). A
vocabulary of the task's own words makes each name and word one id (digits
stay one id each: ``split_digits``), and sequences about 3x shorter.

The corpus is a pure function of the spec: problems ``0 .. PER_LEVEL-1`` of
each training level, drawn with a fixed generator seed that no run uses
(``CORPUS_SEED``), and SentencePiece trains single-threaded, so every run,
seed and host builds the same tokenizer. A run saves it in ``W/tokenizer``
(``tokenizer.save_run_tokenizer``), so evaluation and serving load the saved
one and never retrain. Building takes a few seconds of CPU.
"""
from __future__ import annotations

import functools
from typing import Iterator

from rtt_jax.data.sentencepiece_tokenizer import SentencePieceTokenizer, train_sentencepiece

PREFIX = "family:"
# Problems per (family, training level): enough text that every name, item and
# word of a family's templates is seen many times (the corpus is small: a
# family's vocabulary is closed).
PER_LEVEL = 300
CORPUS_SEED = 7_001


def is_family_spec(spec: str) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def parse_spec(spec: str) -> tuple[tuple[str, ...], int]:
    """``"family:a,b:640"`` -> ``(("a", "b"), 640)``; a bad spec is one line."""
    body = spec[len(PREFIX):]
    names, sep, vocab = body.rpartition(":")
    families = tuple(n.strip() for n in names.split(",") if n.strip())
    if not sep or not families or not vocab.isdigit():
        raise ValueError(f"{spec!r}: expected 'family:NAME[,NAME...]:VOCAB_SIZE', "
                         "e.g. 'family:word_problem:640'")
    from rtt_jax import tasks
    for name in families:
        try:
            tasks.get(name)
        except KeyError:
            raise ValueError(f"{spec!r}: unknown family {name!r}") from None
    return families, int(vocab)


def family_documents(families: tuple[str, ...], per_level: int = PER_LEVEL
                     ) -> Iterator[str]:
    """Each family's examples as a run formats them: every style, every
    training level, problems ``0 .. per_level-1``."""
    from rtt_jax import tasks
    for name in families:
        family = tasks.get(name)
        for level in family.train_levels:
            for i in range(per_level):
                problem = family.generate(CORPUS_SEED, i, level)
                for style in family.styles:
                    prompt, completion = family.format_example(problem, style)
                    yield prompt + completion


@functools.lru_cache(maxsize=8)
def family_tokenizer(spec: str) -> SentencePieceTokenizer:
    """The tokenizer ``spec`` names, trained now (module doc); once per
    process and spec (the result is a pure function of the spec)."""
    families, vocab_size = parse_spec(spec)
    return train_sentencepiece(family_documents(families), vocab_size, hard_vocab_limit=False)
