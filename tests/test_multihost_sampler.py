"""Several hosts on one machine: 2 processes x 4 fake CPU devices
(``jax.distributed`` over loopback, gloo collectives).

* The KV-cache sampler produces the same tokens as 1 process x 8, with
  process-local prompts (uneven shares, one larger than the per-process
  batch) and with the text API's full-list semantics.
* ``python -m rtt_jax.main --mode=train_eval`` trains, checkpoints (one Grain
  state per host) and evaluates, with the 1-process run's losses and report."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from run_outputs import free_port, losses as _losses
from xla_flags import xla_flags

REPO = pathlib.Path(__file__).resolve().parents[1]
TEXTS = ["12+5=", "a longer prompt of 21", "7", "3*4=", "hello", "99-1=", "(2+3)*4=",
         "x", "#### ", "a\nb"]
SPLIT = 3  # process 0 passes TEXTS[:3], process 1 the other 7
MAX_NEW = 12
SAMPLED = dict(temperature=1.0, top_p=0.9, seed=5, stop_on_eos=False,
               stops={"answer_line": False})


def _sampler(max_batch):
    import optax
    from rtt_jax.data.tokenizer import ByteTokenizer
    from rtt_jax.evaluation.stops import make_sampler
    from rtt_jax.model import ModelConfig
    from rtt_jax.train import sharding as shd
    from rtt_jax.train.state import init_state, state_layout
    cfg = ModelConfig(vocab_size=259, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                      init_std=0.3)
    rules = [("batch", ("data", "fsdp")), ("vocab", "tensor"), ("embed", "fsdp"),
             ("heads", "tensor"), ("kv_heads", "tensor"), ("kv", None), ("mlp", "tensor"),
             ("norm", None)]
    mesh = shd.make_mesh(dict(data=2, fsdp=2, tensor=2))
    layout = state_layout(cfg, optax.sgd(0.1), mesh, rules, seed=0)
    params = init_state(layout, cfg, optax.sgd(0.1), seed=0)["params"]
    return make_sampler(layout.graphdef, params, ByteTokenizer(), cfg, max_len=48, mesh=mesh,
                        max_batch=max_batch)


def _outputs(sampler, prompts_ids):
    greedy = sampler.generate_tokens(prompts_ids, MAX_NEW)
    sampled = sampler.generate_tokens(prompts_ids, MAX_NEW, **SAMPLED)
    return {"greedy": [t.tolist() for t in greedy], "sampled": [t.tolist() for t in sampled],
            "text": sampler.generate(TEXTS, MAX_NEW, **SAMPLED)}


def _worker(port: int, pid: int, out: str) -> None:
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid)
    assert jax.process_count() == 2 and jax.local_device_count() == 4
    sampler = _sampler(max_batch=4)  # 2 rows per process per program: several programs
    assert sampler.processes == 2
    mine = TEXTS[:SPLIT] if pid == 0 else TEXTS[SPLIT:]
    result = _outputs(sampler, [sampler.encode_prompt(t) for t in mine])
    with open(out, "w") as f:
        json.dump(result, f)
    jax.distributed.shutdown()


@pytest.mark.slow
def test_two_processes_sample_the_tokens_of_one():
    import tempfile
    port = free_port()
    env = dict(os.environ, XLA_FLAGS=xla_flags(4),
               JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        outs = [os.path.join(tmp, f"p{i}.json") for i in range(2)]
        procs = [subprocess.Popen([sys.executable, __file__, str(port), str(i), outs[i]],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for i in range(2)]
        for p in procs:
            log, _ = p.communicate(timeout=600)
            assert p.returncode == 0, log[-3000:]
        got = [json.load(open(o)) for o in outs]
    one = _sampler(max_batch=64)  # 1 process x 8 devices, all prompts in one call
    assert one.processes == 1
    ref = _outputs(one, [one.encode_prompt(t) for t in TEXTS])
    for kind in ("greedy", "sampled"):
        assert got[0][kind] + got[1][kind] == ref[kind], kind  # each process: its own rows
    assert got[0]["text"] == got[1]["text"] == ref["text"]  # every process: every completion
    assert any(len(t) for t in ref["sampled"])


def _main_cmd(workdir, *extra):
    return [sys.executable, "-m", "rtt_jax.main", "--config=configs/base.py:tiny",
            "--mode=train_eval", f"--workdir={workdir}", "--config.train.steps=4",
            "--config.checkpoint.every_steps=4", "--config.eval.every_steps=4",
            "--config.eval.n_per_level=2", "--config.eval.batch_size=8", *extra]



@pytest.mark.slow
def test_train_eval_on_two_hosts_matches_one(tmp_path):
    port = free_port()
    env = dict(os.environ, XLA_FLAGS=xla_flags(4),
               JAX_PLATFORMS="cpu")
    two = str(tmp_path / "two")
    procs = [subprocess.Popen(_main_cmd(two, "--distributed",
                                        f"--config.distributed.coordinator_address=127.0.0.1:{port}",
                                        "--config.distributed.num_processes=2",
                                        f"--config.distributed.process_id={i}"),
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for i in range(2)]
    for p in procs:
        log, _ = p.communicate(timeout=600)
        assert p.returncode == 0, log[-3000:]
    one = str(tmp_path / "one")
    r = subprocess.run(_main_cmd(one), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _losses(one), _losses(two)
    assert sorted(b) == [1, 2, 3, 4]
    assert all(b[s] == pytest.approx(a[s], rel=1e-5) for s in a)
    data = sorted(os.listdir(os.path.join(two, "checkpoints", "4", "data")))
    assert [d for d in data if d.endswith(".json")] == ["process_0-of-2.json", "process_1-of-2.json"]
    with open(os.path.join(one, "report.json")) as f1, open(os.path.join(two, "report.json")) as f2:
        r1, r2 = json.load(f1), json.load(f2)
    def scores(report):  # every figure but the scorer's own timings
        return {scope: {k: v for k, v in entry.items() if not k.endswith("seconds")}
                for scope, entry in report["summary"].items()}
    assert scores(r1) == scores(r2)  # the same completions, scored the same


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
