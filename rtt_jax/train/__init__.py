"""Training: mesh and sharding rules, optimizer, jitted step, loop, checkpoints, metrics."""
