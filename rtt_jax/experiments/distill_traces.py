"""The distillation experiment's teacher step: serve the trained teacher,
sample traces for fresh problems through the OpenAI-compatible endpoint,
keep the verified ones, and summarise the acceptance per level.

    python -m rtt_jax.experiments.distill_traces --out=DIR \
        --config=configs/experiments/distill.py:cpu/teacher --workdir=RUNS/teacher/seed_0 \
        --family=modular --style=running --levels=1-8 --problems_per_level=250 --k=2

1. ``python -m rtt_jax.serve`` starts on a free loopback port over the
   teacher's latest checkpoint (the same command a user runs);
2. ``rtt_jax.traces.build`` with the OpenAI teacher (``prompt="plain"``: the
   family's problem prompt, as the teacher was trained; ``api="completions"``)
   asks for ``k`` samples per problem at ``--temperature``; the build's
   filters keep the traces whose answer and every step verify (and drop
   near-duplicates), and write ``DIR/traces/`` (``traces.jsonl`` and the
   dataset card with kept and rejected counts by reason);
3. the server is stopped and ``DIR/done.json`` written: per level the samples
   asked, the traces kept, the share of problems with at least one kept trace,
   and the tokens the endpoint counted (the cost estimate in docs/traces.md).

Problems are drawn with ``--seed`` (default 7,000,003): a different stream
from training (the config's seed) and evaluation (seed + 10**9).
A teacher that cannot be served, or that yields no usable reply at all, is
one error line and exit status 2 (``rtt_jax.cli_errors``).
"""
from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import sys
import time

from absl import app, flags

from rtt_jax import cli_errors

PROBLEM_SEED = 7_000_003


def _define_flags() -> None:
    flags.DEFINE_string("out", None, "Output directory (traces/ and done.json).")
    flags.DEFINE_string("config", None, "The teacher run's config: FILE[:VARIANT/ARM].")
    flags.DEFINE_string("workdir", None, "The teacher run's workdir (its checkpoint).")
    flags.DEFINE_string("family", "modular", "Task family to sample.")
    flags.DEFINE_string("style", "", "Trace style the teacher writes (default: the first).")
    flags.DEFINE_string("levels", "1-8", "Levels to sample, e.g. 1-8.")
    flags.DEFINE_integer("problems_per_level", 250, "Fresh problems per level.", lower_bound=1)
    flags.DEFINE_integer("k", 2, "Samples per problem.", lower_bound=1)
    flags.DEFINE_float("temperature", 0.8, "Sampling temperature.")
    flags.DEFINE_integer("max_tokens", 112, "Completion tokens per sample.")
    flags.DEFINE_integer("seed", PROBLEM_SEED, "Seed of the problems sampled.")
    flags.DEFINE_integer("concurrency", 32, "Requests in flight (the server batches them).",
                         lower_bound=1)
    flags.DEFINE_float("start_timeout", 600.0, "Seconds to wait for the server to answer.")
    flags.mark_flags_as_required(["out", "config", "workdir"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TeacherServer:
    """``python -m rtt_jax.serve`` over a workdir on a loopback port, as a
    context manager: ready (``GET /v1/models`` answers) on entry, stopped on
    exit; its log is ``log_path``."""

    def __init__(self, config: str, workdir: str, log_path: str, max_len: int | None = None,
                 max_batch: int = 64, start_timeout: float = 600.0):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        self.argv = [sys.executable, "-m", "rtt_jax.serve", f"--config={config}",
                     f"--workdir={workdir}", f"--port={self.port}", "--model_name=teacher",
                     f"--max_batch={max_batch}", "--batch_window_ms=20"]
        if max_len:
            self.argv.append(f"--max_len={max_len}")
        self.start_timeout = start_timeout
        self._proc = None

    def __enter__(self) -> "TeacherServer":
        import httpx
        self._log = open(self.log_path, "a", encoding="utf-8")
        # A loopback server private to this step: a key the user set for their own
        # servers ($RTT_JAX_API_KEY) would lock this step's own client out.
        env = {k: v for k, v in os.environ.items() if k != "RTT_JAX_API_KEY"}
        self._proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      env=env)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self._proc.poll() is not None:
                self._stop()
                raise ValueError(f"the teacher server exited with status "
                                   f"{self._proc.returncode}: {self._last_line()} "
                                   f"(log: {self.log_path})")
            try:
                if httpx.get(self.base_url + "/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self._stop()
        raise ValueError(f"the teacher server did not answer within {self.start_timeout:.0f}s "
                           f"(log: {self.log_path})")

    def _last_line(self) -> str:
        self._log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
        return next((line for line in reversed(lines) if line.startswith("error")),
                    lines[-1] if lines else "no output")

    def _stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()

    def __exit__(self, *exc) -> None:
        self._stop()


def trace_config(base_url: str, family: str, style: str, levels: str, problems_per_level: int,
                 k: int, temperature: float, max_tokens: int, seed: int, concurrency: int):
    """The ``traces.build`` config: ``configs/traces/openai.py`` pointed at the
    served teacher, one family and style, plain prompts."""
    from rtt_jax.configs.traces import openai
    cfg = openai.get_config()
    cfg.families, cfg.levels, cfg.seed = family, levels, seed
    cfg.problems_per_level, cfg.log_every = problems_per_level, 10 ** 9
    cfg.styles[family] = style
    cfg.teacher.update(base_url=base_url, model="teacher", api="completions", prompt="plain",
                       k=k, temperature=temperature, max_tokens=max_tokens,
                       concurrency=concurrency, api_key_env="", timeout_s=600.0)
    return cfg


def level_table(traces_jsonl: str, levels: list[int], problems_per_level: int,
                k: int) -> dict[str, dict]:
    """``{level: {asked, kept, kept_rate, solved_rate}}`` from the kept records:
    ``asked`` samples (problems x k), ``kept`` verified distinct traces, and the
    share of problems with at least one kept trace."""
    kept, solved = collections.Counter(), collections.defaultdict(set)
    with open(traces_jsonl, encoding="utf-8") as f:
        for line in f:
            problem = json.loads(line)["problem"]
            kept[problem["level"]] += 1
            solved[problem["level"]].add(problem["index"])
    out = {}
    for level in levels:
        asked = problems_per_level * k
        out[str(level)] = {"asked": asked, "kept": kept[level],
                           "kept_rate": kept[level] / asked if asked else None,
                           "solved_rate": len(solved[level]) / problems_per_level
                           if problems_per_level else None}
    return out


def sample_teacher(out: str, config: str, workdir: str, family: str, style: str, levels: str,
                   problems_per_level: int, k: int, temperature: float, max_tokens: int,
                   seed: int = PROBLEM_SEED, concurrency: int = 32,
                   start_timeout: float = 600.0) -> dict:
    """Serve, sample, verify and summarise (module doc); returns done.json's dict."""
    from rtt_jax.traces import build
    os.makedirs(out, exist_ok=True)
    traces_dir = os.path.join(out, "traces")
    start = time.time()
    with TeacherServer(config, workdir, os.path.join(out, "serve.log"),
                       start_timeout=start_timeout) as server:
        cfg = trace_config(server.base_url, family, style, levels, problems_per_level, k,
                           temperature, max_tokens, seed, concurrency)
        build.validate(cfg)
        if os.path.exists(os.path.join(traces_dir, "traces.jsonl")):  # a rerun: start afresh
            os.remove(os.path.join(traces_dir, "traces.jsonl"))
        card = build.build(cfg, traces_dir)
    teacher = card["teacher"]
    problems = teacher["problems"]
    tokens = teacher["tokens"]
    summary = {
        "title": f"teacher traces: {family} ({style or 'first style'}), k={k}, "
                 f"temperature {temperature:g}, through {server.base_url}",
        "traces": traces_dir,
        "totals": {"problems": problems, "samples": teacher["samples"],
                   "kept": card["records"], "kept_rate": card["records"] / max(teacher["samples"], 1),
                   "prompt_tokens": tokens["prompt"], "completion_tokens": tokens["completion"],
                   "tokens_per_1k_problems": round(1000 * tokens["total"] / max(problems, 1)),
                   "seconds": round(time.time() - start, 1)},
        "rejected_by_reason": teacher["rejected_by_reason"],
        "per_level": level_table(os.path.join(traces_dir, "traces.jsonl"),
                                 build.parse_levels(levels) or [], problems_per_level, k),
    }
    with open(os.path.join(out, "done.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def main(argv) -> int:
    del argv
    f = flags.FLAGS

    def body() -> None:
        summary = sample_teacher(f.out, f.config, f.workdir, f.family, f.style, f.levels,
                                 f.problems_per_level, f.k, f.temperature, f.max_tokens,
                                 f.seed, f.concurrency, f.start_timeout)
        t = summary["totals"]
        print(f"kept {t['kept']} of {t['samples']} samples for {t['problems']} problems "
              f"({t['tokens_per_1k_problems']:,} tokens per 1k problems) -> {f.out}")
    return cli_errors.run_reporting(body, path=f.out)


if __name__ == "__main__":
    _define_flags()
    app.run(main, flags_parser=cli_errors.flags_parser())
