"""Shared test helpers for runs in subprocesses: a run's metrics.jsonl rows
and per-step losses, and a free loopback port for servers and coordinators."""
import socket

from rtt_jax.run_files import read_metrics


def metric_rows(workdir) -> list[dict]:
    """Every row of ``workdir``'s metrics.jsonl ([] before the first write)."""
    return read_metrics(str(workdir))


def losses(workdir) -> dict[int, float]:
    """step -> loss; a step logged twice (a resume that did not truncate) fails."""
    rows = [r for r in metric_rows(workdir) if "loss" in r]
    steps = [r["step"] for r in rows]
    assert len(steps) == len(set(steps)), f"duplicate metric rows: {steps}"
    return {r["step"]: r["loss"] for r in rows}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
