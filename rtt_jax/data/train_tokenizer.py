"""Trains a SentencePiece tokenizer and saves it where ``load_tokenizer`` reads it.

    python -m rtt_jax.data.train_tokenizer --input=sample.jsonl --vocab_size=8192 --out=DIR

Input formats (chosen by the file's extension):

* ``.txt``: documents separated by blank lines; a document keeps its inner
  newlines, so pieces may span them.
* ``.jsonl``: one JSON object per line; the document is the concatenation of
  the string fields named by ``--fields`` that the object has (default
  ``text,prompt,completion``: textbook rows have ``text``, trace rows have
  ``prompt`` and ``completion``).

A round-trip check on the training documents runs before saving, so a saved
tokenizer is known to reproduce them exactly.
"""
from __future__ import annotations

import json
import sys
from typing import Iterator

from absl import app, flags

_INPUT = flags.DEFINE_string("input", None, "Training text: a .txt or .jsonl file.")
_VOCAB = flags.DEFINE_integer("vocab_size", 8192, "Vocabulary size, specials and bytes included.")
_OUT = flags.DEFINE_string("out", None, "Directory to save the tokenizer to.")
_FIELDS = flags.DEFINE_list("fields", ["text", "prompt", "completion"],
                            "JSONL fields concatenated into one document.")
_MODEL_TYPE = flags.DEFINE_enum("model_type", "bpe", ["bpe", "unigram"], "SentencePiece model.")
_SPLIT_DIGITS = flags.DEFINE_bool("split_digits", True, "One piece per digit.")
_THREADS = flags.DEFINE_integer("num_threads", 1, "Trainer threads (1 is deterministic).")
_MAX_DOCS = flags.DEFINE_integer("max_documents", 2_000_000, "Use at most this many documents.")


def read_documents(path: str, fields=("text", "prompt", "completion")) -> Iterator[str]:
    """Documents from a .txt or .jsonl file; bad input raises one line naming file:line."""
    if path.endswith(".jsonl"):
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
                if not isinstance(obj, dict):
                    raise ValueError(f"{path}:{lineno}: expected a JSON object")
                parts = [obj[k] for k in fields if isinstance(obj.get(k), str)]
                if not parts:
                    raise ValueError(f"{path}:{lineno}: no string field among {list(fields)}")
                yield "".join(parts)
    elif path.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            doc: list[str] = []
            for line in f:
                if line.strip():
                    doc.append(line)
                elif doc:
                    yield "".join(doc).rstrip("\n")
                    doc = []
            if doc:
                yield "".join(doc).rstrip("\n")
    else:
        raise ValueError(f"{path}: expected a .txt or .jsonl file")


def main(argv):
    del argv
    from rtt_jax.data.sentencepiece_tokenizer import train_sentencepiece
    if not _INPUT.value or not _OUT.value:
        sys.exit("train_tokenizer: --input and --out are required")
    docs = []
    try:
        for doc in read_documents(_INPUT.value, tuple(_FIELDS.value)):
            docs.append(doc)
            if len(docs) >= _MAX_DOCS.value:
                break
        if not docs:
            raise ValueError(f"{_INPUT.value}: no documents to train on")
        tok = train_sentencepiece(docs, _VOCAB.value, model_type=_MODEL_TYPE.value,
                                  split_digits=_SPLIT_DIGITS.value, num_threads=_THREADS.value)
    except (OSError, ValueError) as e:  # one line, naming the file, not a traceback
        sys.exit(f"train_tokenizer: {e}")
    for k, doc in enumerate(docs[:1000]):
        if tok.decode(tok.encode(doc)) != doc:
            sys.exit(f"{_INPUT.value}: document {k} does not round-trip; not saving")
    tok.save(_OUT.value)
    n_tokens = sum(len(tok.encode(d)) for d in docs[:1000])
    n_chars = sum(len(d) for d in docs[:1000])
    print(f"saved {tok.name} tokenizer, vocab {tok.vocab_size}, to {_OUT.value} "
          f"({n_chars / max(n_tokens, 1):.2f} chars/token on the first documents)")


if __name__ == "__main__":
    flags.mark_flags_as_required(["input", "out"])
    app.run(main)
