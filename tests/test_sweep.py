"""The sweep CLI: grid parsing and point names, the statistics of sweep.json on
known inputs (fake run workdirs), and a miniature 2 x 2 sweep end to end
through the command line, with a crashing point and a resumed rerun."""
from __future__ import annotations

import json
import math
import os

import pytest

from cli_fork import run_module
from rtt_jax.experiments import plan, sweep, sweep_plan, sweep_scores
from rtt_jax.experiments.definition import ExperimentError

# One xdist worker runs this module (make test: --dist=loadgroup), so its module
# fixtures are built once.
pytestmark = pytest.mark.xdist_group("sweep")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A one-layer model on 8-row batches (tests run on 8 fake devices), 3 steps,
# evaluated on two problems of one level: a run takes seconds, not minutes.
TINY_EXPERIMENT = '''
from rtt_jax.configs.base import get_config as base_config
from rtt_jax.experiments import Arm, Experiment

EXPERIMENT = Experiment(
    name="tiny_sweep", claim="a test of the sweep", baseline="traces",
    arms=(Arm("traces"), Arm("answer_only", {"data.sources.add.mode": "answer_only"})),
    seeds={"cpu": (0,), "tpu": (0, 1)})


def _cpu():
    c = base_config("tiny")
    c.model.update(d_model=32, n_layers=1, n_heads=4, n_kv_heads=2)
    c.data.update(seq_len=32, global_batch_size=8)
    c.data.sources = dict(add=dict(c.data.sources.addition, styles="lee_simplified"))
    c.data.stages = [dict(name="all", steps=10 ** 6, mixture=dict(add=1.0), levels=dict(add="1"))]
    c.train.update(steps=3, warmup_steps=1, log_every_steps=1)
    c.checkpoint.update(every_steps=3, async_save=False)
    c.eval.update(styles=dict(addition="lee_simplified"), levels=[1], trained_levels=[1],
                  n_per_level=2, max_new_tokens=8, max_len=48, batch_size=8)
    return c


def get_config(arg="cpu/traces"):
    return EXPERIMENT.config(arg, variants=dict(cpu=_cpu, tpu=_cpu))
'''


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    path = tmp_path_factory.mktemp("exp") / "tiny_sweep.py"
    path.write_text(TINY_EXPERIMENT)
    return str(path)


def _config(experiment):
    return plan.load_experiment(experiment).get_config("cpu/traces")


# --- grid parsing and point names ----------------------------------------------------------

def test_grid_values_are_typed_like_the_field_and_points_are_the_product(experiment):
    grid = sweep_plan.parse_grid(["train.learning_rate=3e-4,1e-3", "model.n_layers=2,4",
                             "model.tie_embeddings=false,true"], _config(experiment))
    assert grid == {"train.learning_rate": [0.0003, 0.001], "model.n_layers": [2, 4],
                    "model.tie_embeddings": [False, True]}
    assert all(isinstance(v, int) for v in grid["model.n_layers"])
    points = sweep_plan.grid_points(grid)
    assert len(points) == 8
    assert points[0].name == "learning_rate=0.0003,n_layers=2,tie_embeddings=false"
    assert points[-1].overrides == {"train.learning_rate": 0.001, "model.n_layers": 4,
                                    "model.tie_embeddings": True}
    assert points[0].sets() == ["train.learning_rate=0.0003", "model.n_layers=2",
                                "model.tie_embeddings=false"]
    # two fields with the same last part keep their whole paths
    assert sweep_plan.short_names(["model.d_model", "x.d_model", "train.steps"]) == {
        "model.d_model": "model.d_model", "x.d_model": "x.d_model", "train.steps": "steps"}
    # values unsafe in a directory name are replaced
    named = sweep_plan.grid_points({"data.tokenizer": ["a/b c"]})
    assert named[0].name == "tokenizer=a_b_c"


@pytest.mark.parametrize("spec, match", [
    ("model.n_layer=2,4", "model.n_layer"),               # no such field: named
    ("train.learning_rate", "expected field=v1,v2"),        # no '='
    ("train.learning_rate=", "no value"),                   # no values
    ("train.learning_rate=1e-3,,3e-3", "no value"),         # an empty value
    ("model.n_layers=two", "model.n_layers='two'"),        # not an int
    ("train.learning_rate=1e-3,0.001", "repeated value"),   # the same value twice
])
def test_bad_grid_is_an_experiment_error_naming_it(experiment, spec, match):
    with pytest.raises(ExperimentError, match=match):
        sweep_plan.parse_grid([spec], _config(experiment))


def test_bad_input_is_caught_before_anything_runs(experiment, tmp_path):
    with pytest.raises(ExperimentError, match="no arm 'nope'"):
        sweep_plan.plan_sweep(experiment, "cpu", "nope", ["train.steps=1,2"], str(tmp_path))
    with pytest.raises(ExperimentError, match="swept twice"):
        sweep_plan.plan_sweep(experiment, "cpu", "traces", ["train.steps=1", "train.steps=2"],
                         str(tmp_path))
    with pytest.raises(ExperimentError, match="--set and --grid both set train.steps"):
        sweep_plan.plan_sweep(experiment, "cpu", "traces", ["train.steps=1,2"], str(tmp_path),
                         sets=["train.steps=5"])
    with pytest.raises(ExperimentError, match="--set: override 'train.stepz'"):
        sweep_plan.plan_sweep(experiment, "cpu", "traces", ["train.steps=1,2"], str(tmp_path),
                         sets=["train.stepz=5"])
    with pytest.raises(ExperimentError, match="at least one --grid"):
        sweep_plan.plan_sweep(experiment, "cpu", "traces", [], str(tmp_path))
    with pytest.raises(ExperimentError, match="--metric=answer_acuracy: not a report.json"):
        sweep.run_sweep(experiment, "cpu", "traces", ["train.steps=1,2"], str(tmp_path),
                        metric="answer_acuracy")
    with pytest.raises(ExperimentError, match="--goal=best"):
        sweep.run_sweep(experiment, "cpu", "traces", ["train.steps=1,2"], str(tmp_path),
                        goal="best")
    assert {"answer_accuracy", "consistency", "step_validity", "unparsed"} <= set(
        sweep_scores.report_metrics())
    assert not os.listdir(tmp_path)


def test_points_are_runner_runs_with_their_own_workdir_root(experiment, tmp_path):
    _, grid, plans = sweep_plan.plan_sweep(experiment, "cpu", "traces",
                                      ["train.learning_rate=3e-4,1e-3", "train.steps=2,4"],
                                      str(tmp_path), seeds=["0", "1"],
                                      sets=["train.warmup_steps=0"])
    assert [p.name for p, _, _ in plans][:2] == ["learning_rate=0.0003,steps=2",
                                                "learning_rate=0.0003,steps=4"]
    point, runs, tokens = plans[1]
    assert tokens == 4 * 8 * 32  # steps x batch x seq_len of this point's config
    assert [r.seed for r in runs] == [0, 1] and {r.arm for r in runs} == {"traces"}
    assert runs[0].workdir == f"{tmp_path}/runs/learning_rate=0.0003,steps=4/traces/seed_0"
    argv = runs[0].argv
    assert "--config.train.warmup_steps=0" in argv and "--config.train.learning_rate=0.0003" in argv
    assert argv.index("--config.train.warmup_steps=0") < argv.index("--config.train.steps=4")
    printed = []
    assert sweep.run_sweep(experiment, "cpu", "traces", ["train.steps=2,4"], str(tmp_path),
                           launch="tpu", workdir_root="gs://b/sw", echo=printed.append) is None
    assert len(printed) == 2 and printed[0].startswith("python3 launch/tpu.py run --wait -- ")
    assert "--workdir=gs://b/sw/steps=2/traces/seed_0" in printed[0]


# --- statistics on known inputs ------------------------------------------------------------

def _fake_run(run, acc=None, loss=None, status=None, lee=None):
    """A run workdir holding what a real run writes: report.json (when the run
    completed), metrics.jsonl and run_status.json."""
    os.makedirs(run.workdir, exist_ok=True)
    if acc is not None or loss is not None:
        trained = {"n": 2, "answer_accuracy": acc, "consistency": None}
        report = {"sets": {"modular/L8": {"n": 2, "answer_accuracy": lee}},
                  "summary": {"all": trained, "trained": trained}}
        with open(os.path.join(run.workdir, "report.json"), "w") as f:
            json.dump(report, f)
    if loss is not None:
        with open(os.path.join(run.workdir, "metrics.jsonl"), "w") as f:
            for step, v in enumerate([9.0, loss], 1):
                f.write(json.dumps({"step": step, "loss": v}) + "\n")
            f.write(json.dumps({"step": 2, "eval/all/answer_accuracy": 0.1}) + "\n")
    if status is not None:
        with open(os.path.join(run.workdir, "run_status.json"), "w") as f:
            json.dump({"arm": run.arm, "seed": run.seed, **status}, f)


@pytest.fixture
def fake_sweep(experiment, tmp_path):
    """Four points x three seeds of known values (no run is executed)."""
    grid = ["train.learning_rate=0.1,0.2", "model.n_layers=1,2"]
    _, _, plans = sweep_plan.plan_sweep(experiment, "cpu", "traces", grid, str(tmp_path),
                                   seeds=[0, 1, 2])
    runs = {p.name: r for p, r, _ in plans}
    a, b, c, d = (runs[n] for n in ("learning_rate=0.1,n_layers=1", "learning_rate=0.1,n_layers=2",
                                    "learning_rate=0.2,n_layers=1", "learning_rate=0.2,n_layers=2"))
    for run, acc, loss, secs in zip(a, (0.5, 0.7, 0.9), (2.0, 3.0, 4.0), (10, 20, 30)):
        _fake_run(run, acc, loss, {"rc": 0, "seconds": secs}, lee=acc / 2)
    _fake_run(b[0], 0.95, 1.5, {"rc": 0, "seconds": 5})
    _fake_run(b[1], status={"rc": 1, "seconds": 3, "error": "error: boom at step 2"})
    # b[2] never ran; c: every seed crashed or was killed
    for run in c:
        _fake_run(run, status={"rc": -9, "seconds": 1,
                               "error": "error: run exceeded --run_timeout=1.0s and was killed"})
    _fake_run(d[0], 0.1, 1.0, {"rc": 0, "seconds": 7})
    _fake_run(d[1], 0.3, 1.2, {"rc": 0, "seconds": 9})
    _fake_run(d[2], None, 1.1, {"rc": 0, "seconds": 8})  # complete, accuracy not measured
    return experiment, grid, tmp_path


def _collect(fake_sweep, **kw):
    experiment, grid, out = fake_sweep
    lines = []
    path = sweep.run_sweep(experiment, "cpu", "traces", grid, str(out), seeds=[0, 1, 2],
                           collect_only=True, echo=lines.append, command="CMD", **kw)
    with open(path) as f:
        return json.load(f), lines, path


def test_sweep_statistics_on_known_values(fake_sweep):
    res, lines, path = _collect(fake_sweep)
    assert (res["metric"], res["scope"], res["goal"]) == ("answer_accuracy", "trained", "max")
    assert res["grid"] == {"train.learning_rate": [0.1, 0.2], "model.n_layers": [1, 2]}
    assert res["seeds"] == [0, 1, 2]
    pts = {p["name"]: p for p in res["points"]}
    a = pts["learning_rate=0.1,n_layers=1"]
    assert a["n"] == 3 and a["mean"] == pytest.approx(0.7) and a["std"] == pytest.approx(0.2)
    assert a["values"] == {"0": 0.5, "1": 0.7, "2": 0.9} and a["missing"] == []
    assert a["seconds"] == pytest.approx(20.0) and a["tokens_per_run"] == 3 * 8 * 32
    assert a["overrides"] == {"train.learning_rate": 0.1, "model.n_layers": 1}
    b = pts["learning_rate=0.1,n_layers=2"]
    assert (b["n"], b["mean"], b["std"], b["seconds"]) == (1, 0.95, 0.0, 5.0)
    assert b["missing"] == [{"seed": 1, "reason": "error: boom at step 2"},
                            {"seed": 2, "reason": "not run"}]
    c = pts["learning_rate=0.2,n_layers=1"]  # every seed missing: no mean, never a zero
    assert (c["n"], c["mean"], c["std"], c["values"], c["seconds"]) == (0, None, None, {}, None)
    assert all("killed" in m["reason"] for m in c["missing"]) and len(c["missing"]) == 3
    d = pts["learning_rate=0.2,n_layers=2"]
    assert d["n"] == 2 and d["mean"] == pytest.approx(0.2)
    assert d["std"] == pytest.approx(math.sqrt(0.02))
    assert d["missing"][0]["seed"] == 2 and "not measured" in d["missing"][0]["reason"]
    assert res["best"]["name"] == "learning_rate=0.1,n_layers=2"  # 0.95 from one seed
    # the views: the best row in bold, the all-missing point as "–", missing runs listed
    md = (fake_sweep[2] / "sweep.md").read_text()
    assert "CMD" in md and "| **0.1** | **2** | **0.95 ± 0** | **1** | **2** | **5** |" in md
    assert "| 0.2 | 1 | – | 0 | 3 | – |" in md
    assert "- `learning_rate=0.1,n_layers=2` seed 2: not run" in md
    assert lines[-1] == f"sweep: {os.path.abspath(path)}"
    table = [x for x in "\n".join(lines).splitlines() if x.startswith("0.1 ")]
    assert table[1].endswith("*") and not table[0].endswith("*")


def test_final_loss_is_minimised_and_scope_can_be_an_eval_set(fake_sweep):
    res, _, _ = _collect(fake_sweep, metric="final_loss")
    assert (res["goal"], res["scope"]) == ("min", None)
    pts = {p["name"]: p for p in res["points"]}
    a = pts["learning_rate=0.1,n_layers=1"]
    assert (a["mean"], a["std"], a["n"]) == (3.0, 1.0, 3)  # the last logged loss of each run
    d = pts["learning_rate=0.2,n_layers=2"]
    assert d["n"] == 3 and d["mean"] == pytest.approx(1.1) and d["std"] == pytest.approx(0.1)
    assert res["best"]["name"] == "learning_rate=0.2,n_layers=2"
    assert pts["learning_rate=0.2,n_layers=1"]["n"] == 0
    res, _, _ = _collect(fake_sweep, metric="final_loss", goal="max")
    assert res["best"]["name"] == "learning_rate=0.1,n_layers=1"
    res, _, _ = _collect(fake_sweep, scope="modular/L8")
    a = {p["name"]: p for p in res["points"]}["learning_rate=0.1,n_layers=1"]
    assert a["mean"] == pytest.approx(0.35) and a["n"] == 3
    res, _, _ = _collect(fake_sweep, scope="modular/L99")
    reasons = [m["reason"] for p in res["points"] for m in p["missing"]]
    assert res["best"] is None
    assert any("no eval set 'modular/L99' (has: modular/L8)" in r for r in reasons)


def test_plot_has_a_log_axis_for_learning_rates_spanning_over_10x(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from rtt_jax.experiments import plots
    points = [{"name": f"{lr},{n}", "overrides": {"train.learning_rate": lr, "model.n_layers": n},
               "mean": 0.5 if lr < 1e-2 else None, "std": 0.1, "n": 1 if lr < 1e-2 else 0}
              for lr in (3e-4, 1e-3, 3e-3, 1e-2) for n in (2, 4)]
    res = {"experiment": "e", "arm": "a", "variant": "cpu", "metric": "answer_accuracy",
           "scope": "trained", "goal": "max", "points": points,
           "grid": {"train.learning_rate": [3e-4, 1e-3, 3e-3, 1e-2], "model.n_layers": [2, 4]}}
    scales = []
    real_close = plots._pyplot().close
    monkeypatch.setattr(plots._pyplot(), "close", lambda fig: (
        scales.extend(ax.get_xscale() for ax in fig.axes), real_close(fig)))
    path = plots.sweep_plot(res, str(tmp_path / "sweep.png"))
    assert os.path.getsize(path) > 1000
    assert scales == ["log", "linear"]


# --- a miniature sweep, end to end through the command line -------------------------------

def _cli(out, experiment, *extra):
    return run_module("rtt_jax.experiments.sweep",
                      [f"--experiment={experiment}", "--arm=traces",
                       "--grid=train.learning_rate=1e-2,3e-3",
                       "--grid=model.n_heads=4,3",  # 3 heads do not divide d_model: crash
                       f"--out={out}", *extra], cwd=ROOT)


@pytest.fixture(scope="module")
def mini_sweep(tmp_path_factory, experiment):
    out = tmp_path_factory.mktemp("sweep")
    proc = _cli(out, experiment)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


@pytest.mark.slow
def test_mini_sweep_writes_sweep_json_md_and_plot(mini_sweep):
    out, proc = mini_sweep
    path = out / "sweep.json"
    assert proc.stdout.strip().splitlines()[-1] == f"sweep: {path}"
    res = json.loads(path.read_text())
    assert set(res) >= {"experiment", "variant", "arm", "metric", "scope", "goal", "seeds",
                        "grid", "points", "best"}
    assert res["grid"] == {"train.learning_rate": [0.01, 0.003], "model.n_heads": [4, 3]}
    assert [p["name"] for p in res["points"]] == [
        "learning_rate=0.01,n_heads=4", "learning_rate=0.01,n_heads=3",
        "learning_rate=0.003,n_heads=4", "learning_rate=0.003,n_heads=3"]
    for p in res["points"][0::2]:  # the runs that trained: their own report's value
        report = json.loads((out / "runs" / p["name"] / "traces" / "seed_0" /
                             "report.json").read_text())
        assert p["n"] == 1 and p["values"] == {"0": report["summary"]["trained"]["answer_accuracy"]}
        assert p["std"] == 0.0 and p["seconds"] > 0 and p["tokens_per_run"] == 3 * 8 * 32
    md = (out / "sweep.md").read_text()
    assert "--grid=model.n_heads=4,3" in md
    assert sum(x.startswith("|") for x in md.splitlines()) == 2 + 4  # header, rule, 4 points
    assert "**" in md and (out / "sweep.png").exists()
    assert "learning_rate  n_heads  answer_accuracy" in proc.stdout


@pytest.mark.slow
def test_mini_sweep_reports_a_crashed_point_missing_not_zero(mini_sweep):
    out, _ = mini_sweep
    res = json.loads((out / "sweep.json").read_text())
    crashed = [p for p in res["points"] if p["overrides"]["model.n_heads"] == 3]
    assert len(crashed) == 2
    for p in crashed:
        assert (p["n"], p["mean"], p["std"], p["values"]) == (0, None, None, {})
        assert "n_heads=3" in p["missing"][0]["reason"], p["missing"]
    assert res["best"]["overrides"]["model.n_heads"] == 4
    assert "Missing runs" in (out / "sweep.md").read_text()


@pytest.mark.slow
def test_mini_sweep_rerun_skips_complete_runs(mini_sweep, experiment):
    out, _ = mini_sweep
    report = out / "runs" / "learning_rate=0.01,n_heads=4" / "traces" / "seed_0" / "report.json"
    before = report.stat().st_mtime_ns
    first = json.loads((out / "sweep.json").read_text())
    proc = _cli(out, experiment)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("complete, skipped") == 2
    assert report.stat().st_mtime_ns == before
    again = json.loads((out / "sweep.json").read_text())
    assert [p["values"] for p in again["points"]] == [p["values"] for p in first["points"]]


@pytest.mark.slow
def test_cli_bad_grid_is_one_error_line(experiment, tmp_path):
    for grid, want in (("--grid=model.n_layer=2,4", "model.n_layer"),
                       ("--grid=model.n_layers", "expected field=v1,v2"),
                       ("--grid=model.n_layers=", "no value")):
        proc = run_module("rtt_jax.experiments.sweep",
                          [f"--experiment={experiment}", "--arm=traces", grid, f"--out={tmp_path}"],
                          cwd=ROOT)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and want in lines[0], lines
