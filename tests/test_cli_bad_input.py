"""Every CLI answers bad input with one line on stderr naming the file, line or
field, and a non-zero exit status; never a traceback (docs/design.md, "One-line
errors"; ``rtt_jax.cli_errors``).

``CASES`` is the one table: (CLI module, argv, files to create, expected
substring). A new CLI gets the same treatment by adding rows. Paths in argv
and in the expected text are written ``{tmp}/...``. A file's content is text,
bytes, ``FULL`` (a symlink to /dev/full: every write fails with ENOSPC, the
disk-full case) or ``DIR`` (a directory). ``{readonly}`` is a directory the
test cannot create (a read-only one, or under /sys when running as root).
Each case runs as its own process, forked from a helper that has imported
JAX and its libraries once (``tests/cli_fork.py``); the CLIs check their
inputs before importing JAX, so most take well under a second anyway.
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from cli_fork import run_module
from conftest import REPO

# Subprocesses, several processes or real training runs: `make test` only.
pytestmark = pytest.mark.slow

FULL, DIR = object(), object()
GARBAGE = b"\x00\x01\xff\xfe\x80 not text \x9c\n"
DEEP = "[" * 100_000 + "]" * 100_000 + "\n"
UTF16 = '{"question": "q", "answer": "#### 1"}\n'.encode("utf-16")
LATIN1 = '{"question": "caf\xe9", "answer": "#### 1"}\n'.encode("latin-1")
GSM = '{"question": "Tom has 3 apples and 4 more. How many?", "answer": "3+4=<<3+4=7>>7\\n#### 7"}\n'
# A valid quality model that scores every text 0.5 (no training needed).
MODEL = json.dumps({"format": "rtt_jax.textbook.classifier/1", "dim": 16, "bias": 0.0,
                    "weights": {}})
PROSE = json.dumps({"text": "Adding two numbers starts with the ones digits, then the tens."}) + "\n"
TINY = "--config=configs/base.py:tiny"
TRACES = ["--config=configs/traces/tiny.py", "--config.write_tfds=False",
          "--config.problems_per_level=1"]
JSONL = ["--config.teacher=jsonl"]
MINI = "--experiment=tests/fixtures/experiments/mini.py"
SWEEP = [MINI, "--arm=traces", "--grid=train.steps=1,2", "--collect_only"]

CASES = [
    # --- python -m rtt_jax.main
    ("rtt_jax.main", [TINY, "--workdir={tmp}/afile"], {"afile": "x"},
     "{tmp}/afile: exists and is not a directory"),
    ("rtt_jax.main", [TINY, "--workdir={tmp}/afile/run"], {"afile": "x"}, "{tmp}/afile/run"),
    ("rtt_jax.main", [TINY, "--workdir={readonly}/run"], {}, "{readonly}"),
    ("rtt_jax.main", ["--config={tmp}/nope.py", "--workdir={tmp}/w"], {}, "{tmp}/nope.py"),
    ("rtt_jax.main", ["--config={tmp}/garbage.py", "--workdir={tmp}/w"],
     {"garbage.py": GARBAGE}, "--config"),
    ("rtt_jax.main", [TINY, "--workdir={tmp}/w", "--config.train.stpes=3"], {},
     "--config.train.stpes"),
    ("rtt_jax.main", [TINY, "--workdir={tmp}/w", "--config.train.steps=abc"], {},
     "--config.train.steps=abc"),
    ("rtt_jax.main", [TINY], {}, "--workdir"),
    ("rtt_jax.main", [TINY, "--workdir={tmp}/w", "--config.train.microbatches=3"], {},
     "config.train.microbatches=3: expected a divisor"),
    ("rtt_jax.main", [TINY, "--workdir={tmp}/w", "--config.model.n_kv_heads=3"], {},
     "n_kv_heads=3 must divide"),
    ("rtt_jax.main", [TINY, "--workdir={tmp}/w", "--config.mesh.tensor=3"], {}, "config.mesh"),
    ("rtt_jax.main", ["--mode=eval", "--workdir={tmp}/w"], {"w": DIR},
     "--config is required: {tmp}/w/config.json does not exist"),
    ("rtt_jax.main", ["--mode=print_config"], {}, "--config is required: no --workdir given"),
    ("rtt_jax.main", ["--mode=eval", "--workdir={tmp}/w", "--config.eval.n_per_level=5"],
     {"w": DIR}, "--config.* overrides need a --config (a workdir's saved config: "
                 "--config=configs/workdir.py:W)"),
    ("rtt_jax.main", ["--mode=eval", "--workdir={tmp}/w", "--config=configs/workdir.py:{tmp}/w"],
     {"w": DIR}, "{tmp}/w/config.json: no such file"),
    # --- python -m rtt_jax.serve
    ("rtt_jax.serve", ["--workdir={tmp}/w", "--host=0.0.0.0"], {},
     "--host=0.0.0.0 listens beyond loopback with no API key"),
    ("rtt_jax.serve", ["--workdir={tmp}/w"], {"w": DIR},
     "--config is required: {tmp}/w/config.json does not exist"),
    # --- python -m rtt_jax.traces.build
    ("rtt_jax.traces.build", ["--config={tmp}/nope.py", "--out={tmp}/o"], {}, "{tmp}/nope.py"),
    ("rtt_jax.traces.build", ["--config={tmp}/garbage.py", "--out={tmp}/o"],
     {"garbage.py": GARBAGE}, "--config"),
    ("rtt_jax.traces.build", [*TRACES, "--out={tmp}/o", "--config.families=nosuch"], {},
     "config.families: unknown task family 'nosuch'"),
    ("rtt_jax.traces.build", [*TRACES, "--out={tmp}/afile"], {"afile": "x"}, "{tmp}/afile"),
    ("rtt_jax.traces.build", [*TRACES, "--out={tmp}/o", "--config.levels=a-b"], {},
     "config.levels"),
    ("rtt_jax.traces.build", [*TRACES, *JSONL, "--out={tmp}/o",
                              "--config.jsonl_paths={tmp}/missing.jsonl"], {},
     "{tmp}/missing.jsonl: No such file"),
    ("rtt_jax.traces.build", [*TRACES, *JSONL, "--out={tmp}/o",
                              "--config.jsonl_paths={tmp}/bin.jsonl"], {"bin.jsonl": GARBAGE},
     "{tmp}/bin.jsonl:1: not UTF-8"),
    ("rtt_jax.traces.build", [*TRACES, *JSONL, "--out={tmp}/o",
                              "--config.jsonl_paths={tmp}/u16.jsonl"], {"u16.jsonl": UTF16},
     "{tmp}/u16.jsonl:1: not UTF-8"),
    ("rtt_jax.traces.build", [*TRACES, *JSONL, "--out={tmp}/o",
                              "--config.jsonl_paths={tmp}/deep.jsonl"], {"deep.jsonl": DEEP},
     "{tmp}/deep.jsonl:1: JSON nested deeper than"),
    ("rtt_jax.traces.build", [*TRACES, *JSONL, "--out={tmp}/o",
                              "--config.jsonl_paths={tmp}/empty.jsonl"], {"empty.jsonl": ""},
     "{tmp}/empty.jsonl: no records"),
    ("rtt_jax.traces.build", [*TRACES, "--out={tmp}/o", "--config.families=gsm8k",
                              "--config.gsm8k_path={tmp}/l1.jsonl"], {"l1.jsonl": LATIN1},
     "{tmp}/l1.jsonl:1: not UTF-8"),
    ("rtt_jax.traces.build", [*TRACES, "--out={tmp}/o", "--config.families=subtraction"],
     {"o": DIR, "o/dataset_card.json": FULL}, "{tmp}/o/dataset_card.json: No space left"),
    ("rtt_jax.traces.build", TRACES, {}, "--out is required"),
    # --- python -m rtt_jax.tasks.gsm8k
    ("rtt_jax.tasks.gsm8k", ["{tmp}/missing.jsonl"], {}, "{tmp}/missing.jsonl: No such file"),
    ("rtt_jax.tasks.gsm8k", ["{tmp}/d"], {"d": DIR}, "{tmp}/d: Is a directory"),
    ("rtt_jax.tasks.gsm8k", ["{tmp}/bin.jsonl"], {"bin.jsonl": GARBAGE},
     "{tmp}/bin.jsonl:1: not UTF-8"),
    ("rtt_jax.tasks.gsm8k", ["{tmp}/u16.jsonl"], {"u16.jsonl": UTF16},
     "{tmp}/u16.jsonl:1: not UTF-8"),
    ("rtt_jax.tasks.gsm8k", ["{tmp}/l1.jsonl"], {"l1.jsonl": GSM.encode() + LATIN1},
     "{tmp}/l1.jsonl:2: not UTF-8"),
    ("rtt_jax.tasks.gsm8k", ["{tmp}/deep.jsonl"], {"deep.jsonl": GSM + DEEP},
     "{tmp}/deep.jsonl:2: JSON nested deeper than"),
    ("rtt_jax.tasks.gsm8k", ["{tmp}/empty.jsonl"], {"empty.jsonl": "\n\n"},
     "{tmp}/empty.jsonl: no problems"),
    ("rtt_jax.tasks.gsm8k", [], {}, "required: file"),
    # --- python -m rtt_jax.textbook.filter
    ("rtt_jax.textbook.filter", ["--input={tmp}/deep.jsonl", "--out={tmp}/o"],
     {"deep.jsonl": PROSE + DEEP}, "{tmp}/deep.jsonl:2: JSON nested deeper than"),
    ("rtt_jax.textbook.filter", ["--input={tmp}/bin.jsonl", "--out={tmp}/o"],
     {"bin.jsonl": GARBAGE}, "{tmp}/bin.jsonl:1: not UTF-8"),
    ("rtt_jax.textbook.filter", ["--input={tmp}/c.jsonl", "--out={tmp}/afile"],
     {"c.jsonl": PROSE, "afile": "x"}, "{tmp}/afile: exists and is not a directory"),
    ("rtt_jax.textbook.filter", ["--input={tmp}/missing.jsonl", "--out={tmp}/o"], {},
     "{tmp}/missing.jsonl"),
    ("rtt_jax.textbook.filter", ["--input={tmp}/empty.jsonl", "--out={tmp}/o"],
     {"empty.jsonl": ""}, "{tmp}/empty.jsonl: no records"),
    ("rtt_jax.textbook.filter", ["--text={tmp}/l1.txt", "--out={tmp}/o"],
     {"l1.txt": "line one\ncaf\xe9\n".encode("latin-1")}, "{tmp}/l1.txt:2: not UTF-8"),
    ("rtt_jax.textbook.filter", ["--input={tmp}/c.jsonl", "--out={tmp}/o", "--model={tmp}/m.json"],
     {"c.jsonl": PROSE, "m.json": "[1]"}, "{tmp}/m.json: field 'format'"),
    ("rtt_jax.textbook.filter", ["--input={tmp}/c.jsonl", "--out={tmp}/o", "--model={tmp}/m.json"],
     {"c.jsonl": PROSE, "m.json": MODEL, "o": DIR, "o/filter_report.json": FULL},
     "{tmp}/o/filter_report.json: No space left"),
    ("rtt_jax.textbook.filter", ["--input={tmp}/c.jsonl", "--out={tmp}/o", "--keep_fraction=2"],
     {"c.jsonl": PROSE}, "--keep_fraction"),
    # --- python -m rtt_jax.textbook.generate
    ("rtt_jax.textbook.generate", ["--out={tmp}/afile"], {"afile": "x"}, "{tmp}/afile"),
    ("rtt_jax.textbook.generate", ["--out={tmp}/o", "--families=nosuch"], {},
     "--families: unknown task family 'nosuch'"),
    ("rtt_jax.textbook.generate", ["--out={tmp}/o", "--levels=a"], {}, "--levels=a"),
    ("rtt_jax.textbook.generate", ["--out={tmp}/o", "--n=0"], {}, "--n=0"),
    ("rtt_jax.textbook.generate", ["--out={tmp}/o", "--n=20"],
     {"o": DIR, "o/sections.jsonl": FULL}, "{tmp}/o/sections.jsonl: No space left"),
    # --- python -m rtt_jax.textbook.classifier
    ("rtt_jax.textbook.classifier", ["--out={tmp}/m.json", "--n_good=0"], {}, "--n_good=0"),
    ("rtt_jax.textbook.classifier", [], {}, "--out"),
    # --- python -m rtt_jax.data.preview
    ("rtt_jax.data.preview", ["--config={tmp}/nope.py"], {}, "nope.py"),
    ("rtt_jax.data.preview", [TINY, "--stage=9", "--n=1"], {}, "--stage=9"),
    ("rtt_jax.data.preview", [TINY, "--n=-1"], {}, "--n=-1"),
    ("rtt_jax.data.preview", [TINY, "--config.data.seq_lenn=3"], {}, "--config.data.seq_lenn"),
    # --- python -m rtt_jax.data.report
    ("rtt_jax.data.report", [TINY, "--out={tmp}/afile"], {"afile": "x"}, "{tmp}/afile"),
    ("rtt_jax.data.report", [TINY, "--out={tmp}/o", "--n=0"], {}, "--n=0"),
    ("rtt_jax.data.report", [TINY, "--out={tmp}/o", "--n=4"],
     {"o": DIR, "o/data_report.json": FULL}, "{tmp}/o/data_report.json: No space left"),
    ("rtt_jax.data.report", ["--config={tmp}/garbage.py", "--out={tmp}/o"],
     {"garbage.py": GARBAGE}, "--config"),
    # --- python -m rtt_jax.experiments.run
    ("rtt_jax.experiments.run", ["--experiment=no_such", "--out={tmp}/o"], {},
     "--experiment=no_such"),
    ("rtt_jax.experiments.run", [MINI, "--out={tmp}/afile"], {"afile": "x"}, "{tmp}/afile"),
    ("rtt_jax.experiments.run", [MINI, "--out={tmp}/o", "--seeds=a"], {}, "--seeds=a"),
    ("rtt_jax.experiments.run", [MINI, "--out={tmp}/o", "--parallel=0"], {}, "--parallel=0"),
    ("rtt_jax.experiments.run", ["--experiment={tmp}/bad.py", "--out={tmp}/o"],
     {"bad.py": GARBAGE}, "--experiment={tmp}/bad.py: cannot load"),
    ("rtt_jax.experiments.run", [MINI, "--out={tmp}/o", "--collect_only"],
     {"o": DIR, "o/results.json": FULL}, "{tmp}/o: No space left"),
    # --- python -m rtt_jax.experiments.sweep
    ("rtt_jax.experiments.sweep", [*SWEEP, "--out={tmp}/afile"], {"afile": "x"}, "{tmp}/afile"),
    ("rtt_jax.experiments.sweep", [MINI, "--arm=traces", "--grid=bogus", "--out={tmp}/o"], {},
     "--grid=bogus"),
    ("rtt_jax.experiments.sweep", [MINI, "--grid=train.steps=1", "--out={tmp}/o"], {}, "--arm"),
    ("rtt_jax.experiments.sweep", ["--experiment={tmp}/bad.py", "--arm=a", "--grid=x=1",
                                   "--out={tmp}/o"], {"bad.py": "def get_config(:\n"},
     "{tmp}/bad.py"),
    ("rtt_jax.experiments.sweep", [*SWEEP, "--out={tmp}/o"],
     {"o": DIR, "o/sweep.json": FULL}, "{tmp}/o"),
]

# absl's own log lines ("I1128 12:00:00.000000 123 build.py:170] ...") are
# progress, not part of the error; a run that fails late (a full disk) may
# have logged some before it.
_ABSL_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S+:\d+\] ")


def _readonly_dir(tmp) -> str:
    if os.geteuid() != 0:
        path = tmp / "readonly"
        path.mkdir()
        path.chmod(0o555)
        return str(path)
    if os.path.isdir("/sys/kernel"):  # root writes anywhere but sysfs
        return "/sys/kernel/rtt_jax_cli_test"
    pytest.skip("no directory this (root) user cannot write")


def _make_files(tmp, files: dict) -> None:
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is DIR:
            path.mkdir(exist_ok=True)
        elif content is FULL:
            path.symlink_to("/dev/full")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _run(module: str, argv: list[str], tmp, extra=()) -> tuple[subprocess.CompletedProcess, dict]:
    subs = {"tmp": str(tmp)}
    if any("{readonly}" in a for a in argv):
        subs["readonly"] = _readonly_dir(tmp)
    args = [a.format(**subs) for a in argv]
    return run_module(module, [*args, *extra], cwd=REPO), subs


@pytest.mark.parametrize("module, argv, files, expected", CASES,
                         ids=[f"{c[0].rsplit('.', 1)[-1]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_is_one_line(module, argv, files, expected, tmp_path):
    _make_files(tmp_path, files)
    proc, subs = _run(module, argv, tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not _ABSL_LOG.match(ln)]
    assert proc.returncode != 0, proc.stdout[-1000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("error: "), lines[0]
    assert expected.format(**subs) in lines[0], lines[0]


def test_dev_full_is_a_full_disk():
    """The disk-full rows rely on /dev/full failing every write."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with pytest.raises(OSError):
        with open("/dev/full", "w") as f:
            f.write("x")


@pytest.mark.parametrize("module, argv, files", [
    ("rtt_jax.tasks.gsm8k", ["{tmp}/deep.jsonl"], {"deep.jsonl": DEEP}),
    ("rtt_jax.traces.build", [*TRACES, "--out={tmp}/o", "--config.families=nosuch"], {}),
])
def test_verbosity_1_adds_the_traceback(module, argv, files, tmp_path):
    _make_files(tmp_path, files)
    proc, _ = _run(module, argv, tmp_path, extra=["--verbosity=1"])
    assert proc.returncode != 0
    assert proc.stderr.lstrip().startswith("error: ") and "Traceback" in proc.stderr


@pytest.mark.parametrize("module, argv, files", [
    ("rtt_jax.tasks.gsm8k", ["{tmp}/empty.jsonl"], {"empty.jsonl": ""}),
    ("rtt_jax.traces.build", [*TRACES, *JSONL, "--out={tmp}/o",
                              "--config.jsonl_paths={tmp}/empty.jsonl"], {"empty.jsonl": ""}),
    ("rtt_jax.textbook.filter", ["--input={tmp}/empty.jsonl", "--out={tmp}/o"],
     {"empty.jsonl": ""}),
])
def test_allow_empty_accepts_an_empty_input(module, argv, files, tmp_path):
    _make_files(tmp_path, files)
    proc, _ = _run(module, argv, tmp_path, extra=["--allow_empty"])
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_depth_scan_counts_brackets_outside_strings_only():
    from rtt_jax import json_lines
    limit = json_lines.MAX_DEPTH
    at_limit = "[" * limit + "]" * limit
    assert json_lines.parse_line(at_limit, "f:1") is not None
    with pytest.raises(json_lines.JsonLineError, match="^f:1: JSON nested deeper than"):
        json_lines.parse_line("[" + at_limit + "]", "f:1")
    # Brackets and escaped quotes inside strings are text, not nesting.
    text = json.dumps({"a": "[{" * 500, "b": '\\"[' * 300, "c": [[["x"]]]})
    assert json_lines.parse_line(text, "f:1")["c"] == [[["x"]]]
    with pytest.raises(json_lines.JsonLineError, match="^f:2: not valid JSON"):
        json_lines.parse_line('{"a": 1,}', "f:2")
