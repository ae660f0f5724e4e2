"""Reasoning traces: format, teachers, filters, noise and dataset building.

Modules (imported on demand; nothing here imports JAX or TFDS eagerly):

* ``record``: the ``rtt_jax.trace/1`` JSONL record schema, render/parse of text.
* ``teachers``: ``ProgramTeacher``, ``JsonlTeacher``, ``ModelTeacher``.
* ``verify``: scoring a record with its family's checkers; family lookup
  (task families, ``gsm8k``, ``rg/<reasoning-gym dataset>``).
* ``filters``: correctness, step validity, format rules, caps, dedup; reports.
* ``dedup``: MinHash-LSH near-duplicate index (shared with the textbook builder).
* ``noise``: wrong-step / skipped-step / wrong-answer injection.
* ``diversity``: distinct-n and style entropy.
* ``tfds_writer``: ArrayRecord TFDS dataset ``rtt_traces``.
* ``card``: ``dataset_card.json`` / ``dataset_card.md``.
* ``build``: the CLI, ``python -m rtt_jax.traces.build``.
"""
