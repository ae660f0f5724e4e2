"""Trace dataset build configs (``python -m rtt_jax.traces.build --config=...``)."""
