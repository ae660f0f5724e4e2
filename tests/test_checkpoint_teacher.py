"""The model-checkpoint teacher: a trained checkpoint's sampler behind ModelTeacher."""
import pytest

from rtt_jax import tasks
from rtt_jax.config_validation import validate
from rtt_jax.evaluation.checkpoint_teacher import sample_fn_from_workdir, sampler_sample_fn
from rtt_jax.traces.teachers import ModelTeacher


@pytest.fixture(scope="module")
def trained(trained_run):
    """The suite's trained tiny run (conftest.trained_run)."""
    return validate(trained_run.config()), str(trained_run.workdir)


@pytest.mark.slow  # the fast tier stays under 2 minutes
def test_sample_fn_shapes_and_reproducibility(trained):
    cfg, wd = trained
    fn = sample_fn_from_workdir(cfg, wd, max_new_tokens=12, temperature=1.0, seed=3)
    prompts = ["12+7=", "3+4="]
    a = fn(prompts, 3)
    assert [len(x) for x in a] == [3, 3] and all(isinstance(s, str) for x in a for s in x)
    b = sample_fn_from_workdir(cfg, wd, max_new_tokens=12, temperature=1.0, seed=3)(prompts, 3)
    assert a == b  # same seed, same traces
    # The workdir alone (its config.json) gives the same traces as the config.
    alone = sample_fn_from_workdir(None, wd, max_new_tokens=12, temperature=1.0, seed=3)
    assert alone(prompts, 3) == a
    # The k copies of a prompt are independent draws, not one sample repeated.
    many = fn(["12+7="], 16)[0]
    assert len(set(many)) > 1


@pytest.mark.slow  # the fast tier stays under 2 minutes
def test_model_teacher_keeps_only_verified(trained):
    cfg, wd = trained
    family = tasks.get("addition")
    problems = [family.generate(0, i, 1) for i in range(6)]
    teacher = ModelTeacher(sample_fn_from_workdir(cfg, wd, max_new_tokens=8, temperature=1.0),
                           k=4, prompt_style={"addition": "lee_plain"})
    kept = teacher.teach_batch(problems)
    # An undertrained model: whatever it keeps must verify; most samples are rejected.
    for rec in kept:
        p = next(p for p in problems if p.question == rec.problem.question)
        assert family.check_answer(p, rec.text, style="lee_plain")
    assert teacher.stats.samples == 24 and teacher.stats.kept == len(kept)


class _EchoSampler:
    """Stands in for Sampler: returns the seed and row so batching is visible."""

    def generate(self, prompts, max_new_tokens, temperature, top_p, seed):
        return [f"{p}|{seed}|{i}" for i, p in enumerate(prompts)]


def test_sampler_sample_fn_groups_k_per_prompt_and_advances_seed():
    fn = sampler_sample_fn(_EchoSampler(), 8, seed=10)
    out = fn(["a", "b"], 2)
    assert out == [["a|10|0", "a|10|1"], ["b|10|2", "b|10|3"]]
    assert fn(["a"], 1) == [["a|11|0"]]


@pytest.mark.slow
def test_star_round_reads_its_workdir_alone(trained, tmp_path):
    """star_round with no --config samples with the config the round saved,
    exactly as with the config given."""
    import json
    from rtt_jax.experiments.star_round import run_round
    spec, wd = trained
    with open(f"{wd}/report.json", "w") as f:  # what the round's evaluation would write
        json.dump({"sets": {"addition/L1": {"family": "addition", "level": 1,
                                            "answer_accuracy": 0.0}}}, f)
    args = dict(round_=1, workdir=wd, previous="", family_name="addition", style="lee_plain",
                mastery=0.9, max_level=2, problems=3, k=2, temperature=1.0, max_new_tokens=8,
                rationalize=False, weights={}, seed=0)
    alone = run_round(str(tmp_path / "alone"), config=None, **args)
    given = run_round(str(tmp_path / "given"), config=spec.config, **args)
    for summary in (alone, given):
        del summary["totals"]["seconds"], summary["traces"]
    assert alone == given and alone["sampling"]["samples"] == 6
    assert (tmp_path / "alone/traces/traces.jsonl").read_text() == \
        (tmp_path / "given/traces/traces.jsonl").read_text()
    assert alone["totals"]["levels"] == [1]
    # The frontier from level 1: level 1 fails, so it alone is sampled; with
    # level 1 held, up to one past it (at most max_level), problems spread.
    frontier = run_round(str(tmp_path / "frontier"), config=None,
                         **dict(args, frontier_from=1, problems=4))
    assert frontier["totals"]["levels"] == [1]
    with open(f"{wd}/report.json", "w") as f:
        json.dump({"sets": {"addition/L1": {"family": "addition", "level": 1,
                                            "answer_accuracy": 1.0}}}, f)
    frontier = run_round(str(tmp_path / "frontier2"), config=None,
                         **dict(args, frontier_from=1, problems=4))
    assert frontier["totals"]["levels"] == [1, 2]
    assert frontier["sampling"]["samples"] == 8
    assert "sampled level 1-2" in frontier["title"]
