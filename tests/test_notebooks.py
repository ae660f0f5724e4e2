"""Notebooks run top to bottom: their code cells are written out as a script
and run in a fresh interpreter (the notebook's own code, not model text)."""
import json
import pathlib
import subprocess
import sys

import pytest

from conftest import REPO

# Subprocesses, several processes or real training runs: `make test` only.
pytestmark = pytest.mark.slow

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nb = json.loads(path.read_text())
    code = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    script = tmp_path / (path.stem + ".py")
    script.write_text("import matplotlib\nmatplotlib.use('Agg')\n" + code)
    r = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True,
                       timeout=600, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    if path.name == "quickstart.ipynb":  # its last cell prints one line per eval set
        assert "addition/L1" in r.stdout and "addition/L3" in r.stdout, r.stdout[-2000:]
