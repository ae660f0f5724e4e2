"""RL prompts and rollouts: prompt i of iteration k is a pure function of
(seed, k, i) drawn from the stage's sources and levels; rollouts are
deterministic given the seed and the same whatever the batch composition;
rows mask everything but the sampled tokens."""
import numpy as np
import pytest
from flax import nnx

from rtt_jax.config_validation import validate
from rtt_jax.configs.experiments import _common
from rtt_jax.data.tokenizer import ByteTokenizer
from rtt_jax.model import ModelConfig, Transformer
from rtt_jax.evaluation.stops import make_sampler
from rtt_jax.rl.prompts import PromptStream
from rtt_jax.rl.rollouts import pack_rows, rollout_seed, sample_groups

# A larger init std gives peaked logits (far from sampling ties).
CFG = ModelConfig(vocab_size=259, d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, init_std=0.3)
SEQ_LEN = 63
G = 3


def _data_spec(stages):
    c = _common.cpu_config(steps=10)
    c = _common.one_task_source(c, dict(_common.TASK, train_levels="1-2"))
    c.data.stages = stages
    return validate(c).data


@pytest.fixture(scope="module")
def stream():
    return PromptStream(_data_spec([
        dict(name="easy", steps=2, mixture=dict(task=1.0), levels=dict(task="1-2")),
        dict(name="hard", steps=10 ** 9, mixture=dict(task=1.0), levels=dict(task="5-6"))]),
        seed=7)


@pytest.fixture(scope="module")
def sampler():
    graphdef, state = nnx.split(Transformer(CFG, nnx.Rngs(params=0)))
    return make_sampler(graphdef, nnx.to_pure_dict(state), ByteTokenizer(), CFG,
                        max_len=SEQ_LEN + 1, max_batch=64)


def test_prompts_are_a_pure_function_of_seed_iteration_and_index(stream):
    again = PromptStream(_data_spec(list(map(dict, [
        dict(name="easy", steps=2, mixture=dict(task=1.0), levels=dict(task="1-2")),
        dict(name="hard", steps=10 ** 9, mixture=dict(task=1.0), levels=dict(task="5-6"))]))),
        seed=7)
    a = stream.batch(3, range(6))
    assert [p.text for p in a] == [p.text for p in again.batch(3, range(6))]
    assert [p.text for p in a[2:4]] == [p.text for p in stream.batch(3, [2, 3])]
    assert [p.index for p in a] == list(range(6))
    assert len({p.text for p in a}) > 1  # distinct problems
    # Stages by iteration: the first two iterations draw levels 1-2, then 5-6.
    assert {p.level for k in (0, 1) for p in stream.batch(k, range(16))} <= {1, 2}
    assert {p.level for p in stream.batch(2, range(16))} == {5, 6}
    assert stream.stage_at(1) == 0 and stream.stage_at(2) == 1
    p = a[0]
    assert p.text == p.family.format_example(p.problem, p.style)[0]  # SFT's prompt
    other_seed = PromptStream(_data_spec([
        dict(name="s", steps=10, mixture=dict(task=1.0), levels=dict(task="1-2"))]), seed=8)
    assert [p.text for p in stream.batch(0, range(8))] != \
        [p.text for p in other_seed.batch(0, range(8))]


def _sample(sampler, prompts, seed=3, iteration=5):
    return sample_groups(sampler, prompts, G, seed=seed, iteration=iteration, temperature=1.0,
                         top_p=1.0, max_new_tokens=24, seq_len=SEQ_LEN)


def test_rollouts_are_deterministic_and_independent_of_batch_composition(stream, sampler):
    prompts = stream.batch(0, range(5))
    full = _sample(sampler, prompts)
    assert len(full.completions) == 5 * G
    again = _sample(sampler, prompts)
    for a, b in zip(full.completions, again.completions):
        np.testing.assert_array_equal(a, b)
    # Prompts 1 and 3 alone, in the other order: the same completions.
    part = _sample(sampler, [prompts[3], prompts[1]])
    for k, p in enumerate((3, 1)):
        for g in range(G):
            np.testing.assert_array_equal(part.completions[k * G + g],
                                          full.completions[p * G + g])
    # A group's samples differ from each other; another iteration or seed redraws.
    assert len({tuple(c) for c in full.completions[:G]}) > 1
    other = _sample(sampler, prompts, iteration=6)
    assert any(not np.array_equal(a, b) for a, b in zip(full.completions, other.completions))
    assert rollout_seed(3, 5) != rollout_seed(3, 6) != rollout_seed(4, 5)
    assert all(len(c) <= 24 for c in full.completions)
    assert full.prompt_of(4).index == 1 and full.texts[0] == ByteTokenizer().decode(
        full.completions[0])


def test_a_prompt_that_does_not_fit_is_one_config_error(stream, sampler):
    from rtt_jax.config_error import ConfigError
    with pytest.raises(ConfigError, match=r"config.rl.seq_len=40: a prompt of \d+ tokens"):
        sample_groups(sampler, stream.batch(2, [0]), G, seed=0, iteration=0, temperature=1.0,
                      top_p=1.0, max_new_tokens=16, seq_len=40)


def test_rows_mask_all_but_the_sampled_tokens():
    rows = pack_rows([np.array([1, 5, 6]), np.array([1, 7])],
                     [np.array([8, 9, 2]), np.array([3])], width=8, pad_id=0)
    np.testing.assert_array_equal(rows["tokens"], [[1, 5, 6, 8, 9, 2, 0, 0],
                                                   [1, 7, 3, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(rows["completion"], [[0, 0, 0, 1, 1, 1, 0, 0],
                                                       [0, 0, 1, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(rows["segment_ids"], [[1] * 6 + [0] * 2, [1] * 3 + [0] * 5])
    np.testing.assert_array_equal(rows["positions"][1], np.arange(8))
    with pytest.raises(ValueError, match="row 0"):
        pack_rows([np.arange(5)], [np.arange(5)], width=8, pad_id=0)
