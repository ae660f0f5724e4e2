"""The curriculum input pipeline: determinism, exact resume, mixing, stages,
packing accounting, bad records, file/TFDS sources, and 2-process sharding."""
import json
import time
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]  # not from conftest: the worker must not import it
from rtt_jax.data.curriculum import Curriculum
from rtt_jax.data.packing import PackStats
from rtt_jax.data.pipeline import make_curriculum_data
from rtt_jax.data.sources import BadRecordError, JsonlSource, TfdsSource, TracesSource


def _config(**data):
    from configs.base import get_config
    c = get_config("tiny")
    c.data.prefetch = 0
    c.data.update(data)
    return c


def _take(data, n):
    return [next(data) for _ in range(n)]


def _equal(a, b):
    for (ba, ma), (bb, mb) in zip(a, b):
        for k in ba:
            np.testing.assert_array_equal(ba[k], bb[k])
        assert ma == mb


def test_same_seed_same_batches_other_seed_differs():
    a = _take(make_curriculum_data(_config(), 0, 1), 12)
    _equal(a, _take(make_curriculum_data(_config(), 0, 1), 12))
    c = _config()
    c.seed = 1
    other = _take(make_curriculum_data(c, 0, 1), 1)
    assert not np.array_equal(other[0][0]["tokens"], a[0][0]["tokens"])


@pytest.mark.parametrize("prefetch", [0, 3])
def test_100_straight_equal_50_save_restore_50_across_stage_boundary(prefetch):
    cfg = _config(prefetch=prefetch)
    cfg.data.stages[0]["steps"] = 37  # boundary inside the second half
    straight = make_curriculum_data(cfg, 0, 1)
    ref = _take(straight, 100)
    first = make_curriculum_data(cfg, 0, 1)
    got = _take(first, 50)
    state = json.loads(json.dumps(first.get_state()))  # as the checkpoint stores it
    first.close()
    assert state["stage"] == 1 and state["step_in_stage"] == 13
    second = make_curriculum_data(cfg, 0, 1)
    second.set_state(state)
    got += _take(second, 50)
    second.close()
    straight.close()
    _equal(ref, got)
    assert [m["data/stage"] for _, m in ref[35:39]] == [0.0, 0.0, 1.0, 1.0]


def test_saved_position_is_what_was_consumed_when_prefetch_runs_past_a_stage_switch():
    """The prefetch thread crosses the stage boundary ahead of the trainer; the
    state saved just before the switch must still be the consumed position."""
    cfg = _config(prefetch=3)
    cfg.data.stages[0]["steps"] = 10
    plain_cfg = _config(prefetch=0)
    plain_cfg.data.stages[0]["steps"] = 10
    for k in range(7, 12):
        ahead, plain = make_curriculum_data(cfg, 0, 1), make_curriculum_data(plain_cfg, 0, 1)
        _take(ahead, k)
        time.sleep(0.05)  # let the producer fill its queue, past the boundary
        _take(plain, k)
        assert ahead.get_state() == plain.get_state(), k
        ahead.close()


def test_restored_run_continues_on_a_changed_curriculum():
    cfg = _config()
    cfg.data.stages[1]["steps"] = 5
    data = make_curriculum_data(cfg, 0, 1)
    _take(data, 15)  # the end of stage 2
    state = data.get_state()
    cfg.data.stages = cfg.data.stages + [dict(name="appended", steps=10, mixture={"subtraction": 1},
                                              levels={"subtraction": "2"})]
    resumed = make_curriculum_data(cfg, 0, 1)
    resumed.set_state(state)
    _, m = next(resumed)
    assert m["data/stage"] == 2.0


def test_mixture_proportions_within_tolerance_over_10k():
    cfg = _config()
    from rtt_jax.data.pipeline import make_tokenizer
    cur = Curriculum.from_config(cfg.data, cfg.seed, make_tokenizer("bytes"))
    for s, stage in enumerate(cur.stages):
        draws = [cur.choose(s, j) for j in range(10_000)]
        for name, w in stage.weights.items():
            frac = sum(d[0] == name for d in draws) / len(draws)
            assert abs(frac - w) < 0.02, (s, name, frac, w)
            lv = stage.levels[stage.sources.index(name)]
            seen = {d[1] for d in draws if d[0] == name}
            assert seen == set(lv)
    assert all(cur.choose(0, j)[0] != "subtraction" for j in range(2000))  # added in stage 2


def test_stage_switches_at_the_configured_step():
    data = make_curriculum_data(_config(), 0, 1)
    stages = [m["data/stage"] for _, m in _take(data, 12)]
    assert stages == [0.0] * 10 + [1.0] * 2


def test_packing_accounts_for_every_token_in_real_batches():
    cfg = _config()
    cfg.data.packing.update(overflow="truncate", window=8)
    cfg.data.seq_len = 24  # short rows: some examples overflow and are truncated
    data = make_curriculum_data(cfg, 0, 1)
    total = PackStats()
    for batch, m in _take(data, 30):
        seg = batch["segment_ids"]
        assert m["data/placed_tokens"] == (seg > 0).sum()
        assert m["data/pad_tokens"] == (seg == 0).sum()
        assert m["data/placed_targets"] == batch["loss_mask"].sum()
        assert m["data/rows"] * (cfg.data.seq_len + 1) == seg.size
        total = total + PackStats(**{f: int(m["data/" + f]) for f in PackStats.__dataclass_fields__})
    assert total.truncated_examples > 0 and total.lost_tokens > 0
    # Whole windows: every input token is placed or counted as lost.
    lane = data._packers[0]
    while lane._r != 0:
        next(lane)
    w = lane._w
    lane.set_state({"kind": "packed_batches", "window": 0, "row": 0})
    s = PackStats()
    while lane._w < w:
        s = s + next(lane)[1]
    assert s.placed_tokens == s.input_tokens - s.lost_tokens + s.repeated_tokens


def _write_jsonl(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


def test_malformed_jsonl_line_is_named_or_skipped_and_counted(tmp_path):
    good = json.dumps({"prompt": "1+1=", "completion": "2\n#### 2"})
    path = _write_jsonl(tmp_path / "d.jsonl", [good, good, '{"prompt": "x"', good])
    with pytest.raises(BadRecordError, match=r"d\.jsonl:3: not valid JSON"):
        JsonlSource("j", path, 0, on_bad_record="fatal")
    assert JsonlSource("j", path, 0, on_bad_record="skip").bad_records == 1
    cfg = _config(on_bad_record="skip")
    cfg.data.sources = {"j": dict(kind="jsonl", path=path, mode="trace")}
    cfg.data.stages = [dict(name="only", steps=5, mixture={"j": 1.0})]
    batch, m = next(make_curriculum_data(cfg, 0, 1))
    assert m["data/bad_records"] == 1.0 and batch["loss_mask"].sum() > 0
    missing = _write_jsonl(tmp_path / "e.jsonl", [good, json.dumps({"prompt": "x"})])
    with pytest.raises(BadRecordError, match=r"e\.jsonl:2: expected string fields"):
        JsonlSource("j", missing, 0)


def test_bad_record_found_late_is_raised_from_the_prefetch_thread(tmp_path):
    # answer_only needs a "#### answer" line; this record has none, which only
    # shows when the example is formatted, inside the producer thread.
    path = _write_jsonl(tmp_path / "a.jsonl", [json.dumps({"prompt": "q", "completion": "no marker"})])
    cfg = _config(prefetch=2)
    cfg.data.sources = {"j": dict(kind="jsonl", path=path, mode="answer_only")}
    cfg.data.stages = [dict(name="only", steps=5, mixture={"j": 1.0})]
    data = make_curriculum_data(cfg, 0, 1)
    with pytest.raises(BadRecordError, match=r"source 'j' .*answer_only: the completion has no"):
        next(data)


def test_inspect_marks_targets_and_prints_the_mixture():
    from rtt_jax.data.inspect import describe
    text = describe(_config(), stage=1, n=3)
    assert "== stage 1 'main': steps 11.." in text and "stage 0" not in text
    assert "subtraction" in text and "weight 0.100" in text
    assert text.count("[[") >= 3 and "<EOS>]]" in text


def test_trace_dataset_jsonl_array_record_and_tfds_by_name_agree(tmp_path):
    from rtt_jax import tasks
    from rtt_jax.traces.record import write_records
    from rtt_jax.traces.teachers import ProgramTeacher
    from rtt_jax.traces.tfds_writer import write_tfds
    fam = tasks.get("counting")
    records = [r for i in range(6) for r in ProgramTeacher({"counting": ["per_kind"]})
               .teach(fam.generate(0, i, 1))]
    os.makedirs(tmp_path / "ds")
    write_records(str(tmp_path / "ds" / "traces.jsonl"), records)
    write_tfds(str(tmp_path / "ds" / "traces.jsonl"), str(tmp_path / "ds" / "tfds"))
    a = TracesSource("t", str(tmp_path / "ds"), 0)
    b = TracesSource("t", str(tmp_path / "ds"), 0, file_format="array_record")
    c = TfdsSource("t", "rtt_traces", str(tmp_path / "ds" / "tfds"), "train", 0,
                   prompt_field="question", completion_field="text")
    assert a.size == b.size == c.size == 6
    got = [[s.get(0, i) for i in range(12)] for s in (a, b, c)]
    assert [(e.prompt, e.completion) for e in got[0]] == [(e.prompt, e.completion) for e in got[1]]
    assert [(e.prompt, e.completion) for e in got[0]] == [(e.prompt, e.completion) for e in got[2]]
    # Two epochs, each a permutation of the 6 records.
    assert sorted(e.completion for e in got[0][:6]) == sorted(r.text for r in records)
    import grain
    ds = grain.MapDataset.source(a.at_level(0))
    assert ds[3] == a.get(0, 3) and len(ds) == 6


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STEPS = 12  # crosses tiny's stage boundary at 10


def _worker(port: int, pid: int, out: str) -> None:
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid)
    assert jax.process_count() == 2 and jax.local_device_count() == 2
    data = make_curriculum_data(_config(prefetch=2))
    rows = [next(data)[0] for _ in range(_STEPS)]
    state = data.get_state()  # a collective: both processes call it
    data.close()
    np.savez(out, **{f"{k}_{t}": r[k] for t, r in enumerate(rows) for k in r})
    with open(out + ".json", "w") as f:
        json.dump(state, f)
    jax.distributed.shutdown()


@pytest.mark.slow
def test_two_processes_build_exactly_the_one_process_global_batches(tmp_path):
    port = _free_port()
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu", PYTHONPATH=f"{REPO}:{REPO / 'tests'}")
    procs = [subprocess.Popen([sys.executable, __file__, str(port), str(i), str(tmp_path / f"p{i}")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out[-3000:]
    ref = make_curriculum_data(_config(), 0, 1)
    local = [np.load(tmp_path / f"p{i}.npz") for i in range(2)]
    for t in range(_STEPS):
        batch, _ = next(ref)
        for k, v in batch.items():
            joined = np.concatenate([local[0][f"{k}_{t}"], local[1][f"{k}_{t}"]])
            np.testing.assert_array_equal(joined, v)
    states = [json.load(open(tmp_path / f"p{i}.json")) for i in range(2)]
    assert states[0] == states[1] == ref.get_state()


def test_bad_curriculum_config_is_one_clear_line():
    from rtt_jax import config_validation
    for field, value, expected in [
        ("on_bad_record", "ignore", "config.data.on_bad_record='ignore': expected one of"),
        ("prefetch", -1, "config.data.prefetch=-1: expected an integer >= 0"),
    ]:
        cfg = _config(**{field: value})
        with pytest.raises(config_validation.ConfigError, match=expected.replace("(", r"\(")):
            config_validation.validate(cfg)
    cfg = _config()
    cfg.data.stages[1]["mixture"] = {"nope": 1.0}
    with pytest.raises(config_validation.ConfigError, match=r"config.data.stages\[1\].mixture="):
        config_validation.validate(cfg)
    cfg = _config()
    cfg.data.sources.addition.family = "algebra"
    with pytest.raises(config_validation.ConfigError, match="config.data.sources.addition.family="):
        config_validation.validate(cfg)



# --- row order, host split, source and curriculum caches --------------------------

@pytest.mark.parametrize("shuffle_rows,processes", [(True, 2), (False, 2), (True, 4)])
def test_process_shares_join_to_the_one_process_global_batch(shuffle_rows, processes):
    """Hosts build only their lanes (explicit process_index/count, no jax.distributed):
    their rows, in process order, are the 1-process batch, shuffled rows or not."""
    cfg = _config()
    cfg.data.packing.shuffle_rows = shuffle_rows
    ref = _take(make_curriculum_data(cfg, 0, 1), 12)  # crosses the stage boundary at 10
    shares = [_take(make_curriculum_data(cfg, p, processes), 12) for p in range(processes)]
    for t, (batch, _) in enumerate(ref):
        for k, v in batch.items():
            joined = np.concatenate([share[t][0][k] for share in shares])
            np.testing.assert_array_equal(joined, v, err_msg=f"step {t} {k}")
    flipped = _config()
    flipped.data.packing.shuffle_rows = not shuffle_rows
    other = make_curriculum_data(flipped, 0, 1)
    assert any(not np.array_equal(b["tokens"], o["tokens"])
               for (b, _), (o, _) in zip(ref, _take(other, 12)))  # the flag reaches the packers


def test_shuffle_rows_defaults_to_true_when_the_field_is_absent():
    import ml_collections
    cfg = _config()
    cfg.data.packing = ml_collections.ConfigDict(dict(algorithm="best_fit", overflow="split",
                                                      window=64))  # an older config
    from rtt_jax import config_validation
    config_validation.validate(cfg)
    assert make_curriculum_data(cfg, 0, 1).shuffle_rows is True
    _equal(_take(make_curriculum_data(cfg, 0, 1), 3),
           _take(make_curriculum_data(_config(), 0, 1), 3))


def _lag1_autocorrelation(x) -> float:
    x = np.asarray(x, np.float64) - np.mean(x)
    return float((x[:-1] * x[1:]).sum() / (x * x).sum())


def _mean_example_length(batch) -> float:
    seg = batch["segment_ids"]
    return float((seg > 0).sum() / sum(int(row.max()) for row in seg))


@pytest.mark.parametrize("shuffle_rows", [True, False])
def test_best_fit_batches_do_not_cycle_by_length_with_shuffled_rows(shuffle_rows):
    """The regression shuffle_rows fixes: with best_fit every lane emits its window's
    rows longest first, in step with the other lanes, so whole batches went from
    long to short examples every window (lag-1 autocorrelation ~0.86 here)."""
    cfg = _config()
    cfg.data.update(seq_len=255, global_batch_size=16)
    cfg.data.packing.update(algorithm="best_fit", shuffle_rows=shuffle_rows, window=64)
    cfg.data.sources = dict(modular=dict(kind="synthetic", family="modular", styles="",
                                         mode="trace"))
    cfg.data.stages = [dict(name="mix", steps=10 ** 6, mixture=dict(modular=1.0),
                            levels=dict(modular="1-8"))]
    lengths = [_mean_example_length(b) for b, _ in _take(make_curriculum_data(cfg, 0, 1), 120)]
    assert max(lengths) > 1.2 * min(lengths)  # short and long examples are mixed
    ac = _lag1_autocorrelation(lengths)
    if shuffle_rows:
        assert ac < 0.5, ac
    else:
        assert ac > 0.8, ac


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_bad_shuffle_rows_is_one_config_error_line(value):
    from rtt_jax import config_validation
    cfg = _config()
    with cfg.data.packing.ignore_type():  # what a hand-built or merged config can hold
        cfg.data.packing.shuffle_rows = value
    with pytest.raises(config_validation.ConfigError) as err:
        config_validation.validate(cfg)
    msg = str(err.value)
    assert msg == f"config.data.packing.shuffle_rows={value!r}: expected True or False"
    assert "\n" not in msg


def test_finite_source_epochs_are_permutations_equal_to_a_fresh_instance():
    from rtt_jax.data.sources import _FiniteSource
    n, epochs = 13, 120
    rng = np.random.default_rng(0)
    cached = _FiniteSource("file", 5, n)
    evicting = _FiniteSource("file", 5, n)
    evicting.PERM_CACHE_ELEMENTS = 3 * n  # keeps 3 epochs: evicts all the time
    tiny = _FiniteSource("file", 5, n)
    tiny.PERM_CACHE_ELEMENTS = 1  # smaller than one epoch: still keeps the last one
    fresh = {}
    for i in rng.integers(0, epochs * n, 1500).tolist() + list(range(epochs * n))[::-1]:
        e = i // n
        if e not in fresh:
            fresh[e] = [_FiniteSource("file", 5, n).record_index(e * n + k) for k in range(n)]
        want = fresh[e][i % n]
        assert cached.record_index(i) == evicting.record_index(i) == tiny.record_index(i) == want
        assert len(evicting._perms) <= 3 and len(tiny._perms) == 1
    assert len(fresh) == epochs
    for e, perm in fresh.items():
        assert sorted(perm) == list(range(n)), e
    assert len({tuple(p) for p in fresh.values()}) > epochs // 2  # epochs are reshuffled
    assert [cached.record_index(i) for i in range(n)] != [_FiniteSource("other", 5, n)
                                                          .record_index(i) for i in range(n)]


def _stage(mixture, levels=None, steps=10 ** 6):
    return dict(name="s", steps=steps, mixture=mixture, levels=levels or {})


def test_curriculum_examples_equal_directly_formatted_ones(tmp_path):
    from rtt_jax.data.formatting import format_example
    from rtt_jax.data.pipeline import make_tokenizer
    records = [json.dumps({"prompt": f"{k}+{k + 1}=", "completion": f"{2 * k + 1}\n#### {2 * k + 1}"})
               for k in range(9)]
    cfg = _config()
    cfg.data.sources = dict(
        file=dict(kind="jsonl", path=_write_jsonl(tmp_path / "d.jsonl", records), mode="trace"),
        answers=dict(kind="jsonl", path=str(tmp_path / "d.jsonl"), mode="answer_only"),
        add=dict(kind="synthetic", family="addition", styles="", mode="trace"))
    cfg.data.stages = [_stage({"file": 1.0}), _stage({"add": 1.0}, {"add": "2"}),
                       _stage({"file": 1.0, "answers": 1.0, "add": 2.0}, {"add": "1-3"})]
    tok = make_tokenizer("bytes")
    cur = Curriculum.from_config(cfg.data, cfg.seed, tok)
    for s in range(3):
        for j in list(range(40)) + list(range(40))[::-1]:  # the second pass hits the cache
            name, level, index = cur.choose(s, j)
            src = cur.sources[name]
            ex = src.get(level, index)
            want = format_example(ex.prompt, ex.completion, ex.mode, tok, answer=ex.answer)
            got = cur.example(s, j)
            np.testing.assert_array_equal(got.tokens, want.tokens, err_msg=f"{s} {j} {name}")
            np.testing.assert_array_equal(got.loss_mask, want.loss_mask, err_msg=f"{s} {j} {name}")
    assert {k[0] for k in cur._cache} == {"file", "answers"}  # only finite sources are cached
    assert len([k for k in cur._cache if k[0] == "file"]) == 9  # one entry per record


def test_choose_equals_the_documented_mix64_draws():
    import bisect
    from rtt_jax.data.sources import mix64
    from rtt_jax.data.pipeline import make_tokenizer
    cfg = _config()
    cfg.seed = 11
    cfg.data.stages = [
        _stage({"addition": 0.7, "multiplication": 0.3}, {"addition": "1-2", "multiplication": "1"}),
        _stage({"addition": 1.0}, {"addition": "1-3"}),  # one source, a level draw
        _stage({"subtraction": 1.0}, {"subtraction": "2"}),  # nothing to draw
        _stage({"addition": 0.5, "multiplication": 0.2, "subtraction": 0.3},
               {"addition": "1-3", "multiplication": "1", "subtraction": "1-2"}),
    ]
    cur = Curriculum.from_config(cfg.data, cfg.seed, make_tokenizer("bytes"))
    for s, stage in enumerate(cur.stages):
        n = len(stage.sources)
        for j in list(range(3000)) + [2 ** 33 + 5, 2 ** 39 - 1]:
            k = min(bisect.bisect_right(stage.cumulative, mix64(cfg.seed, s, j, 1) * 2 ** -64),
                    n - 1)
            lv = stage.levels[k]
            want = (stage.sources[k], lv[mix64(cfg.seed, s, j, 2) % len(lv)], (s << 40) + j)
            assert cur.choose(s, j) == want, (s, j)


def test_drop_policy_with_short_rows_keeps_producing_batches():
    cfg = _config(seq_len=16)
    cfg.data.packing.update(overflow="drop", window=4)
    from rtt_jax import config_validation
    config_validation.validate(cfg)
    data = make_curriculum_data(cfg, 0, 1)
    dropped = sum(m["data/dropped_examples"] for _, m in _take(data, 20))
    assert dropped > 0


if __name__ == "__main__":  # the multi-process test's worker
    _worker(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
