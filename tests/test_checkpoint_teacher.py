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
