"""A ``gs://`` workdir end to end, against a GCS emulator on loopback (no network).

Train, resume, evaluate and collect an experiment with every workdir in an
emulated bucket, through the same clients as on real GCS: gcsfs (via
etils.epath) for our files, tensorstore for orbax's checkpoints, and
google-cloud-storage for tensorboardX's events. docs/gcs.md names the
variables that point each at the emulator.

The emulator is ``gcp-storage-emulator`` (PyPI), run in a subprocess with one
patch: its downloads lack the ``x-goog-generation`` header that tensorstore
reads (real GCS sends it). Skipped when gcsfs or the emulator is not installed.
"""
import itertools
import json
import os
import select
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from conftest import REPO
from run_outputs import free_port
from xla_flags import xla_flags

BUCKET = "rtt-test"
_LOGS = itertools.count()  # a name for each run's log files

# The emulator, with x-goog-generation/metageneration on downloads (tensorstore
# reads an object's generation from them; without, "Malformed StorageGeneration").
EMULATOR = r'''
import sys, time
from gcp_storage_emulator import server
from gcp_storage_emulator.handlers import objects

_download = objects.download

def download(request, response, storage, *args, **kwargs):
    _download(request, response, storage, *args, **kwargs)
    if response.status.value in (200, 206):
        obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
        response["x-goog-generation"] = str(obj["generation"])
        response["x-goog-metageneration"] = str(obj["metageneration"])

objects.download = download  # objects.get(alt=media) calls it by name
server.HANDLERS = tuple((pattern, {m: download if f is _download else f
                                   for m, f in methods.items()})
                        for pattern, methods in server.HANDLERS)
s = server.create_server("127.0.0.1", int(sys.argv[1]), in_memory=True,
                         default_bucket=sys.argv[2])
s.start()
print("ready", flush=True)
while True:
    time.sleep(3600)
'''


class Bucket:
    """The emulated bucket through its JSON API (independent of the code under test)."""

    def __init__(self, url: str, name: str):
        self.url, self.name = url, name

    def _object(self, key: str) -> str:
        return f"{self.url}/storage/v1/b/{self.name}/o/{urllib.parse.quote(key, safe='')}"

    def keys(self, prefix: str = "") -> list[str]:
        q = urllib.parse.urlencode({"prefix": prefix})
        with urllib.request.urlopen(f"{self.url}/storage/v1/b/{self.name}/o?{q}") as r:
            return sorted(o["name"] for o in json.load(r).get("items", []))

    def get(self, key: str) -> bytes:
        with urllib.request.urlopen(self._object(key) + "?alt=media") as r:
            return r.read()

    def put(self, key: str, data: bytes) -> None:
        q = urllib.parse.urlencode({"uploadType": "media", "name": key})
        req = urllib.request.Request(f"{self.url}/upload/storage/v1/b/{self.name}/o?{q}",
                                     data=data, method="POST")
        urllib.request.urlopen(req).close()

    def delete(self, key: str) -> None:
        urllib.request.urlopen(urllib.request.Request(self._object(key), method="DELETE")).close()


@pytest.fixture
def emulator(tmp_path):
    pytest.importorskip("gcsfs", reason="gs:// needs gcsfs (pip install -e '.[gcs]')")
    pytest.importorskip("gcp_storage_emulator", reason="the GCS emulator is not installed "
                        "(pip install gcp-storage-emulator)")
    port = free_port()
    script, log = tmp_path / "emulator.py", tmp_path / "emulator.log"
    script.write_text(EMULATOR)
    with open(log, "w") as err:  # its warnings must not fill a pipe nobody reads
        proc = subprocess.Popen([sys.executable, str(script), str(port), BUCKET],
                                stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if "ready" not in line:
            proc.kill()
            proc.wait()
            why = (log.read_text().strip().splitlines() or ["no output in 30 s"])[-1]
            pytest.skip(f"GCS emulator did not start on 127.0.0.1:{port}: {why}")
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ,
               "XLA_FLAGS": xla_flags(1),
               "STORAGE_EMULATOR_HOST": url,            # gcsfs, google-cloud-storage
               "TENSORSTORE_GCS_HTTP_URL": url,         # orbax's tensorstore
               "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",  # no gRPC bucket-type probe
               "EPATH_USE_TF": "false"}  # epath: gcsfs even where TensorFlow is installed
        yield Bucket(url, BUCKET), env
    finally:
        proc.kill()
        proc.wait()


def _run(env, cwd, *args) -> subprocess.Popen:
    """Start ``python *args``; its stdout and stderr go to files (two runs at
    once must not block on full pipes), read back by ``_finish``."""
    n = next(_LOGS)
    out, err = (open(cwd.parent / f"{n}.{k}", "w+") for k in ("out", "err"))
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, text=True,
                            stdout=out, stderr=err)
    proc.logs = (out, err)
    return proc


def _finish(proc, what: str) -> tuple[str, str]:
    """Wait for ``proc``; (stdout, stderr), asserting exit status 0."""
    proc.wait(timeout=600)
    out, err = (f.seek(0) or f.read() for f in proc.logs)
    for f in proc.logs:
        f.close()
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{err[-3000:]}"
    return out, err


def _losses(text: str) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, text.splitlines()) if "loss" in r}


@pytest.mark.slow
def test_gs_workdir_train_resume_eval_collect(emulator, trained_run, tmp_path):
    """A gs:// workdir trains the losses of a local one (the suite's trained_run:
    the same tiny run, one device), resumes, evaluates and is collected."""
    bucket, env = emulator
    cwd = tmp_path / "cwd"  # a gs:// path mistaken for a local one would land here
    cwd.mkdir()
    main = ["-m", "rtt_jax.main", f"--config={REPO}/configs/base.py:tiny",
            "--config.train.steps=6", "--config.checkpoint.every_steps=3",
            "--config.eval.n_per_level=2", "--config.eval.max_new_tokens=8",
            "--config.eval.samples_per_set=1"]
    run = f"gs://{BUCKET}/run"
    _finish(_run(env, cwd, *main, f"--workdir={run}"), "train gs://")
    straight = _losses(bucket.get("run/metrics.jsonl").decode())
    assert sorted(straight) == [1, 2, 3, 4, 5, 6]
    assert all(straight[s] == pytest.approx(trained_run.losses[s], rel=1e-6) for s in straight)
    keys = bucket.keys("run/")
    for key in ("run/config.json", "run/tokenizer/tokenizer.json",
                "run/checkpoints/3/commit_success.txt", "run/checkpoints/6/commit_success.txt"):
        assert key in keys, (key, keys)
    assert any(k.startswith("run/tensorboard/events.out.tfevents") for k in keys)

    # A kill after step 6 logged but before its save finished: step 6 is gone,
    # metrics.jsonl has rows past the last checkpoint. The rerun resumes at 3.
    for key in bucket.keys("run/checkpoints/6/"):
        bucket.delete(key)
    _, err = _finish(_run(env, cwd, *main, f"--workdir={run}"), "resume gs://")
    assert "resumed from" in err and "at step 3" in err, err[-3000:]
    assert _losses(bucket.get("run/metrics.jsonl").decode()) == straight
    assert "run/checkpoints/6/commit_success.txt" in bucket.keys("run/checkpoints/6/")

    assert json.loads(bucket.get("run/config.json"))["train"]["steps"] == 6
    # The workdir's own config.json: no --config.
    out, _ = _finish(_run(env, cwd, "-m", "rtt_jax.main", "--mode=eval", f"--workdir={run}"),
                     "eval gs://")
    assert f"-> {run}/report.json" in out
    report = json.loads(bucket.get("run/report.json"))
    assert report["step"] == 6 and report["sets"]
    keys = bucket.keys("run/")
    for name in ("report.md", "samples.jsonl", "accuracy_by_level.png", "learning_curves.png"):
        assert f"run/{name}" in keys, (name, keys)
    assert bucket.get("run/accuracy_by_level.png").startswith(b"\x89PNG")

    # An experiment's runs in the bucket (this run's files as each arm's seed 0),
    # collected with --collect_only into a gs:// --out.
    for arm in ("traces", "answer_only"):
        for name in ("report.json", "metrics.jsonl"):
            bucket.put(f"exp/runs/{arm}/seed_0/{name}", bucket.get(f"run/{name}"))
    out, _ = _finish(_run(env, cwd, "-m", "rtt_jax.experiments.run",
                          "--experiment=traces_vs_answer", "--variant=cpu",
                          f"--out=gs://{BUCKET}/exp", "--collect_only", "--seeds=0"),
                     "experiments.run --collect_only")
    assert out.strip().splitlines()[-1] == f"results: gs://{BUCKET}/exp/results.json"
    results = json.loads(bucket.get("exp/results.json"))
    assert {a: r["seeds_completed"] for a, r in results["arms"].items()} == \
        {"traces": 1, "answer_only": 1}
    assert results["curves"]["traces"]["step"]
    keys = bucket.keys("exp/")
    for name in ("results.md", "accuracy_vs_level.png", "learning_curves.png"):
        assert f"exp/{name}" in keys, (name, keys)

    assert os.listdir(cwd) == []  # nothing written to a local "gs:" directory
