"""Textbook-quality text: synthetic sections, corpus readers, quality scoring and filtering.

* ``sections``: ``section(family, seed, index, level)`` and ``TextbookSource``
  (random access by index), composed from ``skills`` (rules, step
  explanations), ``templates`` (wording and layout) and ``mistakes``
  (corrupted-and-fixed solver steps).
* ``quality``: Gopher/C4-style heuristic rules with reasons.
* ``classifier`` and ``corrupt``: a hashed n-gram logistic regression quality
  score and the known-bad text it is trained against.
* ``readers``: JSONL, plain-text and TFDS corpora.
* ``corpus_diversity``: distinct-n and template entropy of a corpus.
* CLIs: ``python -m rtt_jax.textbook.generate`` and ``python -m rtt_jax.textbook.filter``.

No JAX here: this package runs in data-building jobs and Grain workers.
"""
