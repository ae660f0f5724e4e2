"""Reinforcement from verified steps: GRPO with the task checkers as rewards.

``python -m rtt_jax.rl`` (``__main__.py``) runs it; docs/rl.md explains use.
One concern per module:

* ``spec``: ``config.rl`` checked into an ``RLSpec``;
* ``prompts``: prompt i of iteration k from the curriculum's synthetic sources;
* ``rollouts``: G samples per prompt through the KV-cache sampler, packed rows;
* ``rewards``: outcome / process / mix rewards from the family checkers;
* ``grpo``: group-normalised advantages and the clipped objective with k3 KL;
* ``update``: the jitted update on training's mesh, state and shardings;
* ``loop``: rollouts -> rewards -> updates, checkpoints, metrics, resume;
* ``accounting``: planned FLOPs, for comparisons at equal compute.

``W/config.json`` is written by ``rtt_jax.workdir_config``, as training does.
"""
