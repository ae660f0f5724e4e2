"""reasoning-gym as a problem source: conversion, traces, and answer scoring."""
from __future__ import annotations

import pathlib
import random
import subprocess
import sys

import pytest

pytest.importorskip("reasoning_gym")

from rtt_jax import tasks
from rtt_jax.tasks import reasoning_gym_source as rgs
from rtt_jax.traces.noise import wrong_answer_text
from rtt_jax.traces.teachers import ProgramTeacher
from rtt_jax.traces.verify import check_record

REPO = pathlib.Path(__file__).resolve().parents[1]
N = 25


def test_installed_version_has_the_shared_datasets():
    assert set(rgs.available_shared()) == set(rgs.SHARED)


@pytest.mark.parametrize("dataset", rgs.SHARED)
def test_our_checker_and_rg_score_agree(dataset):
    family = rgs.family(dataset)
    rng = random.Random(0)
    checked = 0
    for level in (family.levels[0], family.levels[-1]):
        for index in range(N):
            p = family.generate(7, index, level)
            if not p.answer:  # a few generators have items without a reference answer
                continue
            right = f"Working.\n#### {p.answer}"
            assert family.check_answer(p, right), (dataset, p.question, p.answer)
            assert family.rg_score(p, right) == 1.0
            wrong = f"Working.\n#### {wrong_answer_text(rng, p.answer)}"
            assert not family.check_answer(p, wrong), (dataset, p.answer, wrong)
            assert family.rg_score(p, wrong) < 1.0
            assert not family.check_answer(p, "no marker " + p.answer)
            checked += 1
    assert checked >= N


@pytest.mark.parametrize("dataset", rgs.SHARED)
def test_generation_is_deterministic_and_json_safe(dataset):
    import json
    family = rgs.family(dataset)
    a, b = family.generate(3, 5, 1), family.generate(3, 5, 1)
    assert a == b and a.family == f"rg/{dataset}"
    assert family.generate(3, 6, 1).question != a.question or dataset == "gsm_symbolic"
    json.dumps(a.to_json())  # data must be JSON-able for trace records
    assert a.data["dataset"] == dataset


@pytest.mark.parametrize("dataset, min_mapped", [
    ("chain_sum", 1.0), ("products", 0.8), ("basic_arithmetic", 0.5), ("simple_equations", 0.7),
    ("gcd", 1.0), ("lcm", 1.0), ("leg_counting", 0.5), ("base_conversion", 0.0),
])
def test_mapped_items_get_our_verified_traces(dataset, min_mapped):
    family = rgs.family(dataset)
    teacher = ProgramTeacher()
    mapped = 0
    for index in range(N):
        p = family.generate(1, index, 1)
        if p.data["ours"] is None:
            assert family.styles_for(p) == ()
            continue
        mapped += 1
        records = teacher.teach(p)
        assert {r.style for r in records} == set(family.styles)
        for r in records:
            v = check_record(r, family)
            assert v.verified, (r.style, r.text)
            assert family.rg_score(p, r.text) == 1.0
    assert mapped >= min_mapped * N


def test_gsm_symbolic_cot_traces_are_checked_like_gsm8k():
    family = tasks.get("rg/gsm_symbolic")
    verified = 0
    for index in range(N):
        p = family.generate(0, index, 1)
        _, completion = family.format_example(p, "rg_cot")
        assert family.check_answer(p, completion)
        assert family.rg_score(p, completion) == 1.0
        rep = family.check_steps(p, completion)
        verified += rep.all_valid and rep.answer_follows
    # Some templates write units inside equations ("6 days/week * 2 weeks/month")
    # or use facts the question omits; those are not verified.
    assert verified >= 0.5 * N


def test_unmapped_families_have_no_program_traces():
    family = rgs.family("family_relationships")
    p = family.generate(0, 0, 1)
    assert family.styles_for(p) == () and ProgramTeacher().teach(p) == []
    with pytest.raises(ValueError):
        family.solve(p, "rg_cot")


def test_unknown_dataset_and_level():
    with pytest.raises(KeyError):
        rgs.family("no_such_dataset")
    with pytest.raises(ValueError, match="level"):
        rgs.family("chain_sum").generate(0, 0, 99)


@pytest.mark.parametrize("text", ["", "####", "#### " + "9" * 10_000, None, "x" * 50_000,
                                  "#### __import__('os')", "#### ٣"])
def test_hostile_answers_are_wrong(text):
    for dataset in ("chain_sum", "gcd", "family_relationships", "gsm_symbolic"):
        family = rgs.family(dataset)
        p = family.generate(0, 0, 1)
        assert family.check_answer(p, text) is False
        family.check_steps(p, text if isinstance(text, str) else "")


_NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from rtt_jax.tasks import reasoning_gym_source as rgs
for d in rgs.SHARED:
    f = rgs.family(d)
    for i in range(3):
        p = f.generate(11, i, f.levels[-1])
        f.rg_score(p, "#### " + p.answer)
print("ok")
"""


@pytest.mark.slow
def test_generation_needs_no_network():
    out = subprocess.run([sys.executable, "-c", _NO_NETWORK], capture_output=True, text=True,
                         cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
