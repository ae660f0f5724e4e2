"""Every shipped experiment finds its data: each experiment x variant is
planned (nothing trains) and every file its runs and steps read is made by
a run or step it needs, is a file of the checkout, or is a file of a dataset
in ``rtt_jax.external_data`` that resolves to the documented place.

Needs no data: where a dataset is not on this machine, its files' presence
is skipped with the reason, but where they would be looked for is still
checked."""
from __future__ import annotations

import os
import re

import pytest

from rtt_jax import external_data
from rtt_jax.experiments import Arm, Experiment, Step, inputs, plan
from rtt_jax.external_data import LEE2023

SHIPPED = sorted(f[:-3] for f in os.listdir(plan.EXPERIMENTS_DIR)
                 if f.endswith(".py") and not f.startswith("_"))


def _issues(name: str, variant: str, out: str) -> tuple[list, list]:
    """The runner's plan and input check, and every (run, field, path) read."""
    from rtt_jax.experiments.run import _planned
    _, _, runs, configs, _ = _planned(name, variant, out, (), (), (), None)
    found = [(r.key, field, p) for r in runs if r.kind == "run"
             for field, p in inputs.run_paths(configs[r.arm], r)]
    return inputs.check_inputs(configs, runs, [out, os.path.join(out, "runs")]), found


def test_every_shipped_experiment_is_planned():
    assert {"lee2023", "distill", "star", "traces_vs_answer"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_file_a_shipped_experiment_reads_can_be_had(name, tmp_path):
    module = plan.load_experiment(plan.experiment_path(name))
    for variant in module.EXPERIMENT.seeds:  # the variants the runner can plan
        issues, _ = _issues(name, variant, str(tmp_path / variant))
        for issue in issues:
            # Only a dataset of external_data may be absent, and then the line
            # says where it was looked for and how to get it.
            assert issue.kind == inputs.ABSENT, issue.line()
            data = external_data.owner(issue.path)
            assert os.path.dirname(issue.path) == data.directory(), issue.line()
            assert data.env in issue.message and data.doc in issue.message, issue.line()


def test_the_lee_runs_read_the_documented_directory(monkeypatch, tmp_path):
    """The regression of issue 25: the default climbed one directory too few
    once the configs moved into the package. It is the folder beside the
    checkout that holds the package, and $RTT_LEE2023_DIR wins, read when the
    config is built."""
    monkeypatch.delenv(LEE2023.env, raising=False)
    assert os.path.isfile(os.path.join(external_data.CHECKOUT, "rtt_jax", "external_data.py"))
    default = os.path.normpath(os.path.join(external_data.CHECKOUT, "..", "shared", "data",
                                            "lee2023"))
    assert LEE2023.directory() == default
    _, found = _issues("lee2023", "cpu", str(tmp_path / "a"))
    lee = {p for _, field, p in found if "lee" in field}
    assert {os.path.dirname(p) for p in lee} == {default}
    assert {os.path.basename(p) for p in lee} == {
        "train_3digit_1000.txt", "train_3digit_3000.txt", "train_3digit_10000.txt",
        "test_10000.txt"}
    monkeypatch.setenv(LEE2023.env, str(tmp_path / "lee"))
    _, found = _issues("lee2023", "cpu", str(tmp_path / "b"))
    assert {os.path.dirname(p) for _, f, p in found if "lee" in f} == {str(tmp_path / "lee")}


@pytest.mark.parametrize("data", external_data.DATASETS, ids=lambda d: d.name)
def test_each_external_dataset_documents_how_to_get_it(data):
    page, _, anchor = data.doc.partition("#")
    text = open(os.path.join(external_data.CHECKOUT, page), encoding="utf-8").read()
    headings = [re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", text, re.M)]
    assert anchor in headings, (data.doc, headings)
    assert f"${data.env}" in text and all(f in text for f in data.files)


@pytest.mark.parametrize("data", external_data.DATASETS, ids=lambda d: d.name)
def test_each_external_dataset_is_complete_where_present(data):
    if not os.path.isdir(data.directory()):
        pytest.skip(f"{data.name} is not on this machine ({data.directory()}; "
                    f"${data.env} unset or elsewhere): {data.how_to_get()}")
    missing = [f for f in data.files if not os.path.isfile(os.path.join(data.directory(), f))]
    assert not missing, f"{data.directory()} lacks {missing}"


def test_the_check_names_what_cannot_be_had(tmp_path, monkeypatch):
    """A run reading a step's output without needing the step, a file that
    does not exist, a file of a dataset that it does not list: one issue each."""
    from rtt_jax.configs.base import get_config as base_config
    monkeypatch.setenv(LEE2023.env, str(tmp_path / "lee"))
    exp = Experiment(
        name="probe", claim="c", baseline="ok", seeds={"cpu": (0,)},
        arms=(Arm("ok", needs=("make",), run_sets={"data.tokenizer": "{step:make}/tok"}),
              Arm("unneeded", run_sets={"data.tokenizer": "{step:make}/tok"}),
              Arm("missing", {"eval.gsm8k_path": str(tmp_path / "nope.jsonl")}),
              Arm("unlisted", {"eval.lee_path": lambda c: str(tmp_path / "lee" / "x.txt")})),
        steps=(Step("make", "some.module", {"config": "configs/base.py:tiny"}),))

    configs = {a: exp.config(f"cpu/{a}", variants=dict(cpu=lambda: base_config("tiny")))
               for a in exp.arm_names}
    out = str(tmp_path / "out")
    runs = plan.plan(str(tmp_path / "probe.py"), exp, "cpu", out)
    issues = inputs.check_inputs(configs, runs, [out, os.path.join(out, "runs")])
    assert [(i.run, i.kind) for i in issues] == [
        ("unneeded/seed_0", inputs.NOT_NEEDED), ("missing/seed_0", inputs.MISSING),
        ("unlisted/seed_0", inputs.UNLISTED)], [i.line() for i in issues]
    assert issues[0].line().startswith("unneeded/seed_0: config.data.tokenizer=")
    # A step's config file that does not exist is named too.
    bad = Experiment(name="probe", claim="c", baseline="a", seeds={"cpu": (0,)},
                     arms=(Arm("a", needs=("make",)),),
                     steps=(Step("make", "m", {"config": "configs/no_such.py:x"}),))
    runs = plan.plan(str(tmp_path / "probe.py"), bad, "cpu", out)
    [issue] = inputs.check_inputs({"a": base_config("tiny")}, runs, [out])
    assert issue.kind == inputs.MISSING and issue.path == "configs/no_such.py"


def test_the_runner_names_a_missing_data_file_before_running_anything(tmp_path, monkeypatch):
    from rtt_jax.experiments.run import run_experiment
    from rtt_jax.experiments.definition import ExperimentError
    monkeypatch.setenv(LEE2023.env, str(tmp_path / "nowhere"))
    out = tmp_path / "out"
    with pytest.raises(ExperimentError) as e:
        run_experiment("lee2023", "cpu", str(out), arms=["reversed_10k"], seeds=["0"],
                       echo=lambda line: None)
    line = str(e.value)
    assert line.startswith(f"lee2023 reversed_10k/seed_0: config.data.sources.lee.path='"
                           f"{tmp_path}/nowhere/train_3digit_10000.txt': no such file; put "
                           f"lee2023 ")
    assert "$RTT_LEE2023_DIR" in line and line.endswith("(1 more inputs cannot be had)")
    assert not out.exists()  # nothing ran, nothing was written


def test_dry_run_prints_each_command_and_its_overrides(tmp_path, monkeypatch):
    from rtt_jax.experiments.run import dry_run
    data = tmp_path / "lee"
    data.mkdir()
    for name in LEE2023.files:
        (data / name).write_text("1+1=2\n")
    monkeypatch.setenv(LEE2023.env, str(data))
    lines = []
    assert dry_run("lee2023", "cpu", str(tmp_path / "out"), arms=["reversed_10k"],
                   seeds=["0"], sets=["train.steps=20"], echo=lines.append) == 0
    assert lines[0].startswith("lee2023 (cpu): 1 run, budget tokens")
    assert lines[1] == "[1/1] reversed_10k/seed_0"
    assert lines[2].startswith("  python -m rtt_jax.main --mode=train_eval --config=")
    assert lines[2].endswith(f"lee2023.py:cpu/reversed_10k --config.seed=0 "
                             f"--config.train.steps=20 --workdir={tmp_path}/out/runs/"
                             "reversed_10k/seed_0")
    assert lines[3:] == [
        f"  arm:     data.sources.lee.path = '{data}/train_3digit_10000.txt'",
        "  arm:     data.sources.lee.styles = 'lee_reversed'",
        "  arm:     data.global_batch_size = 20", "  arm:     data.seq_len = 64",
        "  arm:     eval.styles.addition = 'lee_reversed'",
        "  command: seed = 0", "  command: train.steps = 20"]
    assert not (tmp_path / "out").exists()
    (data / "test_10000.txt").unlink()
    lines.clear()
    assert dry_run("lee2023", "cpu", str(tmp_path / "out"), arms=["reversed_10k"],
                   seeds=["0"], echo=lines.append) == 1
    assert lines[-1].startswith("error: lee2023 reversed_10k/seed_0: config.eval.lee_path=")
