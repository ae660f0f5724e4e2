"""The curriculum input pipeline: determinism, exact resume, mixing, stages,
packing accounting, bad records, file/TFDS sources, and 2-process sharding."""
import collections
import json
import time
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from in_process import curriculum, data_pipeline as make_curriculum_data
from rtt_jax.data.packing import PackStats
from rtt_jax.data.sources import BadRecordError, JsonlSource, TfdsSource, TracesSource
from run_outputs import free_port
from xla_flags import xla_flags

REPO = pathlib.Path(__file__).resolve().parents[1]  # not from conftest: the worker must not import it


def _config(**data):
    from rtt_jax.configs.base import get_config
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


@pytest.mark.slow  # the fast tier stays under 2 minutes
@pytest.mark.parametrize("workers", [0, 2])
def test_same_seed_same_batches_other_seed_differs(workers):
    a = _take(make_curriculum_data(_config(), 0, 1), 12)
    again = make_curriculum_data(_config(worker_count=workers), 0, 1)
    _equal(a, _take(again, 12))
    again.close()
    c = _config()
    c.seed = 1
    other = _take(make_curriculum_data(c, 0, 1), 1)
    assert not np.array_equal(other[0][0]["tokens"], a[0][0]["tokens"])


@pytest.mark.parametrize("prefetch,workers,resume_workers", [
    (0, 0, 0), (3, 0, 0), (2, 2, 2), (1, 2, 0), (0, 0, 1)])
@pytest.mark.slow  # the fast tier stays under 2 minutes
def test_100_straight_equal_50_save_restore_50_across_stage_boundary(prefetch, workers,
                                                                      resume_workers):
    """In-process, a prefetch thread or Grain worker processes: the same
    batches, and a state saved with one worker count resumes with another."""
    def cfg(prefetch=0, workers=0):
        c = _config(prefetch=prefetch, worker_count=workers)
        c.data.stages[0]["steps"] = 37  # boundary inside the second half
        return c

    straight = make_curriculum_data(cfg(), 0, 1)
    ref = _take(straight, 100)
    first = make_curriculum_data(cfg(prefetch, workers), 0, 1)
    got = _take(first, 50)
    state = json.loads(json.dumps(first.get_state()))  # as the checkpoint stores it
    first.close()
    assert state["stage"] == 1 and state["step_in_stage"] == 13
    second = make_curriculum_data(cfg(prefetch, resume_workers), 0, 1)
    second.set_state(state)
    got += _take(second, 50)
    second.close()
    straight.close()
    _equal(ref, got)
    assert [m["data/stage"] for _, m in ref[35:39]] == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.slow  # the fast tier stays under 2 minutes
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


def test_mixture_proportions_are_grain_exact_over_every_window():
    """Grain's MapDataset.mix is proportional: every window of 1,000 draws has
    each source within 1% of its weight, levels uniform within a source."""
    cfg = _config()
    cur = curriculum(cfg)
    for s, stage in enumerate(cur.stages):
        draws = cur.drawn(s)
        for start in (0, 7 * 2 ** 32 + 5, 2 ** 40):  # lane 0, lane 7, far out
            got = [draws[start + j][:2] for j in range(1000)]
            for name, w in stage.weights.items():
                frac = sum(d[0] == name for d in got) / len(got)
                assert abs(frac - w) < 0.01, (s, name, frac, w)
                lv = stage.levels[stage.sources.index(name)]
                per_level = collections.Counter(d[1] for d in got if d[0] == name)
                assert set(per_level) == set(lv)
                assert max(per_level.values()) - min(per_level.values()) <= 0.01 * len(got) + 1
    assert all(cur.drawn(0)[j][0] != "subtraction" for j in range(2000))  # added in stage 2


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


def test_whole_windows_place_every_input_token_or_count_it_lost():
    """One lane through Grain: once its windows are complete, every input token
    is placed or counted as lost, and repeated ones are counted."""
    import grain
    from rtt_jax.data.lane_packing import EXAMPLE_STATS, LanePackIterDataset
    cfg = _config()
    cur = curriculum(cfg)
    for overflow, seq_len in [("truncate", 24), ("split", 20), ("drop", 16)]:
        ds = LanePackIterDataset(grain.MapDataset.range(3, 4), cur.examples(1), seq_len=seq_len,
                                 window=8, algorithm="best_fit", overflow=overflow,
                                 shuffle_key=(0, 1))
        it = iter(ds)
        s = PackStats()
        for t in range(200):
            e = next(it)
            s = s + PackStats(**{f: int(v) for f, v in zip(EXAMPLE_STATS, e["window_stats"])})
            seg = e["rows"][:, 1]
            s.placed_tokens += int((seg > 0).sum())
            s.pad_tokens += int((seg == 0).sum())
            s.rows += len(seg)
            if t > 20 and it.get_state()["lanes"]["3"][1] == 0:  # at a window boundary
                break
        else:
            raise AssertionError("no window boundary in 200 rows")
        assert s.placed_tokens == s.input_tokens - s.lost_tokens + s.repeated_tokens, overflow
        assert s.rows * (seq_len + 1) == s.placed_tokens + s.pad_tokens
        assert (s.lost_tokens > 0) == (overflow != "split"), overflow


def _write_jsonl(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.slow  # the fast tier stays under 2 minutes
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
    from rtt_jax.data.preview import describe
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
    # TFDS by field name reads the bare question; a trace dataset trains with
    # the family's own prompt for the record's style (cue line included), the
    # prompt evaluation writes.
    assert [e.completion for e in got[0]] == [e.completion for e in got[2]]
    prompts = {r.text: fam.format_example(r.problem, "per_kind")[0] for r in records}
    assert all(e.prompt == prompts[e.completion] for e in got[0])
    assert all(e.prompt.startswith(c.prompt) and e.prompt != c.prompt
               for e, c in zip(got[0], got[2]))
    # Two epochs, each a permutation of the 6 records.
    assert sorted(e.completion for e in got[0][:6]) == sorted(r.text for r in records)
    import grain
    ds = grain.MapDataset.source(a.at_level(0))
    assert ds[3] == a.get(0, 3) and len(ds) == 6


_STEPS = 12  # crosses tiny's stage boundary at 10


def _worker(port: int, pid: int, out: str) -> None:
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid)
    assert jax.process_count() == 2 and jax.local_device_count() == 2
    data = make_curriculum_data(_config(prefetch=2, worker_count=int(os.environ["WORKERS"])))
    rows = [next(data)[0] for _ in range(_STEPS)]
    state = data.get_state()  # this process's lanes
    data.close()
    np.savez(out, **{f"{k}_{t}": r[k] for t, r in enumerate(rows) for k in r})
    with open(out + ".json", "w") as f:
        json.dump(state, f)
    jax.distributed.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2])
def test_two_processes_build_exactly_the_one_process_global_batches(tmp_path, workers):
    """Two real hosts (jax.distributed over loopback), each with Grain workers.
    Without workers the same split is test_process_shares_join_to_the_one_process_global_batch,
    in this process."""
    from rtt_jax.data.lane_packing import lane_states
    port = free_port()
    env = dict(os.environ, XLA_FLAGS=xla_flags(2),
               JAX_PLATFORMS="cpu", PYTHONPATH=f"{REPO}:{REPO / 'tests'}", WORKERS=str(workers))
    procs = [subprocess.Popen([sys.executable, __file__, str(port), str(i), str(tmp_path / f"p{i}")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-3000:]
    ref = make_curriculum_data(_config(), 0, 1)
    local = [np.load(tmp_path / f"p{i}.npz") for i in range(2)]
    for t in range(_STEPS):
        batch, _ = next(ref)
        for k, v in batch.items():
            joined = np.concatenate([local[0][f"{k}_{t}"], local[1][f"{k}_{t}"]])
            np.testing.assert_array_equal(joined, v)
    states = [json.load(open(tmp_path / f"p{i}.json")) for i in range(2)]
    want = ref.get_state()
    for st in states:  # the same stage bookkeeping on both hosts
        assert {k: v for k, v in st.items() if k not in ("grain", "worker_count")} == \
            {k: v for k, v in want.items() if k not in ("grain", "worker_count")}
    lanes = [lane_states(st["grain"]) for st in states]  # each host: its own lanes
    assert sorted(lanes[0], key=int) == ["0", "1", "2", "3", "4", "5", "6", "7"]
    assert {**lanes[0], **lanes[1]} == lane_states(want["grain"])


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


@pytest.mark.slow  # the fast tier stays under 2 minutes
@pytest.mark.parametrize("saved_hosts,hosts", [(2, 1), (1, 2), (4, 2)])
def test_states_of_one_host_count_resume_on_another(saved_hosts, hosts):
    """What the checkpoint hands over for a step saved by another number of
    hosts (every host's state): each host resumes exactly the rows it owns."""
    ref = _take(make_curriculum_data(_config(), 0, 1), 14)  # crosses the stage boundary
    saved = []
    for p in range(saved_hosts):
        data = make_curriculum_data(_config(), p, saved_hosts)
        _take(data, 9)
        saved.append(json.loads(json.dumps(data.get_state())))
    rest = []
    for p in range(hosts):
        data = make_curriculum_data(_config(worker_count=1 if p else 0), p, hosts)
        data.set_state({"kind": "per_process", "states": saved})
        rest.append(_take(data, 5))
        data.close()
    for t in range(5):
        for k, v in ref[9 + t][0].items():
            np.testing.assert_array_equal(np.concatenate([r[t][0][k] for r in rest]), v)


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


def test_finite_source_epochs_are_reshuffled_permutations(tmp_path):
    """A file source through Grain's shuffle + repeat: every epoch is a
    permutation of the records, epochs differ, and so do two sources' orders."""
    records = [json.dumps({"prompt": f"q{k}", "completion": f"a{k}\n#### {k}"}) for k in range(13)]
    path = _write_jsonl(tmp_path / "d.jsonl", records)
    cfg = _config()
    cfg.data.sources = {"f": dict(kind="jsonl", path=path), "g": dict(kind="jsonl", path=path)}
    cfg.data.stages = [_stage({"f": 1.0}), _stage({"g": 1.0})]
    cur = curriculum(cfg)
    f = cur.drawn(0)
    epochs = [tuple(f[e * 13 + k][2].prompt for k in range(13)) for e in range(40)]
    assert all(sorted(e) == sorted(f"q{k}" for k in range(13)) for e in epochs)
    assert len(set(epochs)) > 30  # reshuffled per epoch
    far = 13 * 10 ** 9  # an epoch far out is a permutation too
    assert sorted(f[far + k][2].prompt for k in range(13)) == sorted(epochs[0])
    g = cur.drawn(1)
    assert tuple(g[k][2].prompt for k in range(13)) != epochs[0]  # another source, another order
    fresh = curriculum(cfg).drawn(0)
    assert [fresh[i][2] for i in range(50)] == [f[i][2] for i in range(50)]


def _stage(mixture, levels=None, steps=10 ** 6):
    return dict(name="s", steps=steps, mixture=mixture, levels=levels or {})


def _nodes(ds):
    out, todo = [], [ds]
    while todo:
        d = todo.pop()
        out.append(d)
        todo.extend(d.parents)
    return out


def test_curriculum_examples_equal_directly_formatted_ones(tmp_path):
    from rtt_jax.data.curriculum import Memo
    from rtt_jax.data.formatting import format_example
    from rtt_jax.data.tokenizer import make_tokenizer
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
    cur = curriculum(cfg, tok)
    for s in range(3):
        examples, drawn = cur.examples(s), cur.drawn(s)
        for j in list(range(60)) + list(range(60))[::-1]:  # the second pass hits the memo
            name, level, ex = drawn[j]
            want = format_example(ex.prompt, ex.completion, ex.mode, tok, answer=ex.answer)
            got = examples[j]
            np.testing.assert_array_equal(got.tokens, want.tokens, err_msg=f"{s} {j} {name}")
            np.testing.assert_array_equal(got.loss_mask, want.loss_mask, err_msg=f"{s} {j} {name}")
        memos = [d for d in _nodes(examples) if isinstance(d, Memo)]
        assert len(memos) == {0: 1, 1: 0, 2: 2}[s]  # only finite sources are memoized
        assert all(0 < len(m._memo) <= 9 for m in memos)  # at most one entry per record


def test_prompt_loss_reaches_the_batches_and_bad_values_are_one_line():
    from rtt_jax import config_validation
    from rtt_jax.data.tokenizer import make_tokenizer
    cfg = _config()
    cfg.data.sources = dict(
        plain=dict(kind="synthetic", family="counting", styles="per_kind", mode="answer_only"),
        read=dict(kind="synthetic", family="counting", styles="per_kind", mode="answer_only",
                  prompt_loss=True))
    cfg.data.stages = [_stage({"plain": 1.0}, {"plain": "1"}), _stage({"read": 1.0}, {"read": "1"})]
    cur = curriculum(cfg, make_tokenizer("bytes"))
    for j in range(5):
        plain, read = cur.examples(0)[j], cur.examples(1)[j]
        _, _, text = cur.drawn(0)[j]
        assert read.num_targets == len(read) - 1  # every token but BOS
        assert plain.num_targets == len(f"#### {text.completion.split('#### ')[1]}") + 1  # + EOS
    for value, expected in [("yes", "config.data.sources.read.prompt_loss='yes': expected True "
                                    "or False"),
                            (True, "config.data.sources.tb.prompt_loss=True: expected False for "
                                   "a textbook source (its text is all target already)")]:
        bad = _config()
        with bad.unlocked():
            bad.data.sources["read"] = dict(kind="synthetic", family="counting", mode="trace",
                                            prompt_loss=value)
            bad.data.sources["tb"] = dict(kind="textbook", families="counting", mode="full",
                                          prompt_loss=value is True)
        if value != "yes":
            bad.data.sources["read"]["prompt_loss"] = False
        with pytest.raises(config_validation.ConfigError) as err:
            config_validation.validate(bad)
        assert str(err.value) == expected


def test_stage_items_are_offset_problems_so_stages_never_repeat_each_other():
    """A synthetic source's item i in stage s is its problem (s << 56) + i."""
    cfg = _config()
    cfg.data.stages = [_stage({"addition": 1.0}, {"addition": "2"}),
                       _stage({"addition": 1.0}, {"addition": "2"})]
    cur = curriculum(cfg)
    src = cur.sources["addition"]
    for s in range(2):
        d = cur.drawn(s)
        for i in [0, 1, 17, 2 ** 32 + 3]:
            assert d[i] == ("addition", 2, src.get(2, (s << 56) + i))
    a = [cur.drawn(0)[i][2].prompt for i in range(50)]
    b = [cur.drawn(1)[i][2].prompt for i in range(50)]
    assert len(set(a) & set(b)) < 5


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
