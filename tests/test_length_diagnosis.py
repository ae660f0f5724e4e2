"""The length diagnosis (rtt_jax/evaluation/length_diagnosis.py): its line
scoring on hand-made predictions, and the CLI on a tiny checkpoint."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rtt_jax import tasks
from rtt_jax.data.tokenizer import ByteTokenizer
from rtt_jax.evaluation import length_diagnosis as ld

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILY = tasks.get("modular")


def _scores(problem, style, change=None):
    """Line scores when the model predicts the reference, except that the
    token at completion offset ``change`` is predicted wrong."""
    tok = ByteTokenizer()
    prompt, completion = FAMILY.format_example(problem, style)
    row = np.concatenate([[tok.bos_id], tok.encode(prompt), tok.encode(completion), [tok.eos_id]])
    pred = np.concatenate([[-1], row[1:]])  # pred[t]: the argmax that predicts token t
    if change is not None:
        pred[1 + len(prompt) + change] = 0
    spans = ld.line_spans(len(prompt), completion)
    return ld.forced_line_scores(pred == row, pred, spans, tok.encode("#")[0])["lines"], completion


@pytest.mark.parametrize("style", ["running", "hinted"])
def test_line_parts_are_scored_where_the_wrong_token_is(style):
    p = FAMILY.generate(0, 3, 4)
    lines, completion = _scores(p, style)
    assert all(r["all"] for r in lines) and lines[-1]["is_answer_line"]
    assert [r["begins_answer"] for r in lines] == [False] * 4 + [True]
    second = completion.index("\n") + 1  # line 2: carry, operand, result
    for offset, part in ((0, "carry"), (1, "operand"), (2, "operand"),
                         (completion.index("=", second) + 1 - second, "result")):
        lines, _ = _scores(p, style, second + offset)
        assert not lines[1][part] and not lines[1]["all"], (offset, part)
        assert all(lines[1][q] for q in ld.PARTS if q != part)
        assert all(r["all"] for k, r in enumerate(lines) if k != 1)


def test_lines_written_counts_trace_lines_before_the_answer():
    assert ld.lines_written("1+2=3\n3+4=7\n#### 7") == 2
    assert ld.lines_written("1+2=3\n3+4=7\n") == 2
    assert ld.lines_written("#### 3") == 0


@pytest.mark.slow
def test_diagnosis_cli_on_a_tiny_checkpoint(tmp_path, trained_run):
    """On the suite's shared tiny run (``conftest.trained_run``, read only)."""
    wd = trained_run.workdir
    out = tmp_path / "diag"
    proc = subprocess.run(
        [sys.executable, "-m", "rtt_jax.evaluation.length_diagnosis",
         "--config=rtt_jax/configs/base.py:tiny", f"--workdir={wd}", f"--out={out}",
         "--levels=1,3", "--n=3", "--style=running"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "diagnosis.json").read_text())
    assert result["step"] == max(trained_run.losses) and set(result["levels"]) == {"1", "3"}
    level = result["levels"]["3"]
    assert level["lines_needed"] == 3 and set(level["tf_by_line"]) == {"1", "2", "3"}
    for key in ("free_accuracy", "forced_accuracy", "tf_operand", "tf_premature_stop"):
        assert 0.0 <= level[key] <= 1.0, key
    # The block holds: no forced completion starts its answer before 3 lines.
    for ex in level["examples"]:
        assert "####" not in "\n".join(ex["forced"].split("\n")[:3]), ex["forced"]
    assert "| 3 | 3 |" in (out / "diagnosis.md").read_text()
    bad = subprocess.run(
        [sys.executable, "-m", "rtt_jax.evaluation.length_diagnosis",
         "--config=rtt_jax/configs/base.py:tiny", f"--workdir={wd}", f"--out={out}",
         "--levels=99"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode != 0 and "error: --levels: 99 is not a level of modular" in bad.stderr
