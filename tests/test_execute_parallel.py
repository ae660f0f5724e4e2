"""The local runner: ``execute_local(runs, parallel=N)`` and ``cpu_slots``, with
fake runs whose command is a short ``python -c`` script (no training).

Order is read from an event log the fake runs append to (``start ARM`` /
``end ARM``), never from clock readings."""
import json
import os

import pytest

from hang_guard import hang_guard

from rtt_jax.experiments import plan
from rtt_jax.experiments.plan import Run
from rtt_jax.experiments.execute import cpu_slots, execute_local

# argv[1] = workdir, argv[2] = what to do; writes report.json (what makes a run
# complete). Each run appends "start ARM" and "end ARM" to OUT/events.
_FAKE = r"""
import json, os, sys, time
wd, mode = sys.argv[1], sys.argv[2]
arm = os.path.basename(os.path.dirname(wd))
events = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(wd))), "events")
def log(what):
    with open(events, "a") as f:
        f.write(f"{what} {arm}\n")
log("start")
info = {"cores": sorted(os.sched_getaffinity(0))}
if mode == "meet":  # both halves of a pair must run at the same time to finish
    mine, partner, after = sys.argv[3], sys.argv[4], sys.argv[5]
    open(mine, "w").close()
    for _ in range(6000):  # a minute: the test's hang guard ends it sooner
        if os.path.exists(partner):
            break
        time.sleep(0.01)
    else:
        print("RuntimeError: the partner run never started"); sys.exit(2)
    while after and not os.path.exists(after):  # end only once that file exists
        time.sleep(0.01)
elif mode == "crash":
    print("step 1 ok")
    print("ValueError: boom at step 2")
    sys.exit(3)
elif mode == "sleep":
    print("sleeping", flush=True)
    time.sleep(120)
elif mode == "must_not_run":
    open(os.path.join(wd, "ran"), "w").close()
    sys.exit(1)
log("end")
with open(os.path.join(wd, "report.json"), "w") as f:
    json.dump(info, f)
"""


def _run(tmp_path, arm, mode, *extra) -> Run:
    workdir = str(tmp_path / "runs" / arm / "seed_0")
    return Run(arm, 0, workdir, ("-c", _FAKE, workdir, mode, *map(str, extra)))


def _events(tmp_path) -> list[str]:
    with open(tmp_path / "events") as f:
        return f.read().splitlines()


def _report(run):
    with open(os.path.join(run.workdir, plan.REPORT)) as f:
        return json.load(f)


def _status_file(run):
    with open(os.path.join(run.workdir, plan.STATUS)) as f:
        return json.load(f)


def test_cpu_slots_deal_disjoint_cores(monkeypatch):
    assert cpu_slots(1) == [None] and cpu_slots(0) == [None]
    have = os.sched_getaffinity(0)
    if len(have) >= 2:
        a, b = cpu_slots(2)
        assert a and b and not a & b and a | b <= have
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    slots = cpu_slots(3)
    assert [len(s) for s in slots] == [2, 2, 2]
    assert len(set().union(*slots)) == 6 and set().union(*slots) <= set(range(8))
    assert cpu_slots(8) == [{k} for k in range(8)]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {4, 9})
    assert cpu_slots(2) == [{4}, {9}]
    assert cpu_slots(3) == [None, None, None]  # more slots than cores: no pinning


@pytest.mark.slow  # spawns the fake runs
def test_parallel_runs_overlap_pinned_crash_recorded_order_kept_complete_skipped(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    a_flag, b_flag = flags / "a", flags / "b"
    runs = [
        _run(tmp_path, "a", "meet", a_flag, b_flag, tmp_path / "runs" / "b" / "seed_0" /
             plan.STATUS),  # ends once the runner has seen b end
        _run(tmp_path, "b", "meet", b_flag, a_flag, ""),
        _run(tmp_path, "c", "crash"),
        _run(tmp_path, "d", "ok"),
        _run(tmp_path, "e", "must_not_run"),
    ]
    os.makedirs(runs[4].workdir)
    with open(os.path.join(runs[4].workdir, plan.REPORT), "w") as f:
        f.write("{}")  # already complete
    lines = []
    with hang_guard(300, "the parallel runs never met"):
        statuses = execute_local(runs, timeout_s=60, echo=lines.append, parallel=2)
    assert [s["arm"] for s in statuses] == ["a", "b", "c", "d", "e"]  # run order, not finish order
    by_arm = {s["arm"]: s for s in statuses}
    for arm in "abd":
        assert by_arm[arm]["complete"] and by_arm[arm]["rc"] == 0, by_arm[arm]
        assert _status_file(runs["abcde".index(arm)])["complete"]
    # a and b ran at the same time (each waited for the other), b ended first
    events = _events(tmp_path)
    assert events.index("end b") < events.index("end a")
    assert max(events.index("start a"), events.index("start b")) < events.index("end b")
    ra, rb = _report(runs[0]), _report(runs[1])
    assert next(ln for ln in lines if "->" in ln).startswith("    b/seed_0 -> ok")
    slots = cpu_slots(2)
    if slots[0] is not None:  # pinned to disjoint shares of the cores
        assert {frozenset(ra["cores"]), frozenset(rb["cores"])} == {frozenset(s) for s in slots}
    # the crash is recorded; the runs after it still ran
    c = by_arm["c"]
    assert c["rc"] == 3 and not c["complete"] and c["error"] == "ValueError: boom at step 2"
    assert _status_file(runs[2]) == c
    with open(os.path.join(runs[2].workdir, plan.LOG)) as f:
        assert "boom" in f.read()
    # the complete run was skipped, not run
    assert by_arm["e"]["complete"] and not os.path.exists(os.path.join(runs[4].workdir, "ran"))
    assert any("e/seed_0: complete, skipped" in ln for ln in lines)
    # A rerun skips every complete run and retries only the crashed one.
    lines.clear()
    again = execute_local(runs, timeout_s=60, echo=lines.append, parallel=2)
    assert [s["arm"] for s in again] == ["a", "b", "c", "d", "e"]
    assert sum("complete, skipped" in ln for ln in lines) == 4
    assert [s["complete"] for s in again] == [True, True, False, True, True]
    assert again[0] == {**by_arm["a"], "complete": True}  # read back from run_status.json


@pytest.mark.slow  # spawns the fake runs
def test_run_timeout_kills_a_run_and_records_it_missing(tmp_path):
    # The quick run's budget is ample for a loaded machine; the slow one sleeps 120 s.
    runs = [_run(tmp_path, "slow", "sleep"), _run(tmp_path, "quick", "ok")]
    statuses = execute_local(runs, timeout_s=10, echo=lambda *_: None, parallel=2)
    slow, quick = statuses
    assert quick["arm"] == "quick" and quick["complete"] and quick["rc"] == 0
    assert slow["arm"] == "slow" and slow["rc"] == -9 and not slow["complete"]
    assert slow["error"] == "error: run exceeded --run_timeout=10s and was killed"
    assert "end slow" not in _events(tmp_path)
    assert _status_file(runs[0]) == slow
    assert not runs[0].complete


@pytest.mark.slow  # spawns the fake runs
def test_one_at_a_time_is_unpinned_and_sequential(tmp_path):
    runs = [_run(tmp_path, "x", "ok"), _run(tmp_path, "y", "ok")]
    statuses = execute_local(runs, echo=lambda *_: None, parallel=1)
    assert [(s["arm"], s["rc"], s["complete"]) for s in statuses] == [("x", 0, True),
                                                                      ("y", 0, True)]
    rx, ry = _report(runs[0]), _report(runs[1])
    assert rx["cores"] == ry["cores"] == sorted(os.sched_getaffinity(0))
    assert _events(tmp_path) == ["start x", "end x", "start y", "end y"]  # y after x ended


@pytest.mark.slow  # spawns the fake runs
@pytest.mark.parametrize("parallel", [1, 3])
def test_statuses_cover_every_run_in_order(tmp_path, parallel):
    runs = [_run(tmp_path, f"r{k}", "crash" if k == 1 else "ok") for k in range(4)]
    statuses = execute_local(runs, echo=lambda *_: None, parallel=parallel)
    assert [s["arm"] for s in statuses] == ["r0", "r1", "r2", "r3"]
    assert [s["complete"] for s in statuses] == [True, False, True, True]
