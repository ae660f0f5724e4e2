"""The Colab notebooks (notebooks/*.ipynb).

Fast checks read the committed files: each opens with a Colab badge and an
install cell for the same GitHub owner, has a parameters cell and carries the
saved outputs of a real run (plots included, no errors, a reasonable size).

The slow test runs them as a user would: the package is built from this
checkout and installed (not editable) into a fresh virtual environment, the
notebooks are copied into a temporary directory outside the repository and
executed there in order by ``python -m nbconvert --execute`` with no
``PYTHONPATH``, in their quick ``SMALL`` mode (``RTT_NOTEBOOK_SMALL=1``).
Any cell error fails it. The fresh environment takes its dependencies from
the test interpreter's site-packages (a ``.pth`` line), so nothing is
downloaded; the editable install of the test environment is not among them
(its import hook lives in a ``.pth`` file that a path line does not run).
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

import pytest

from conftest import REPO

NAMES = ("01_data_and_curriculum", "02_train_and_evaluate", "03_inspect_reasoning")
NOTEBOOKS = REPO / "notebooks"
BADGE = re.compile(r"\(https://colab\.research\.google\.com/github/([\w.-]+)/rtt_jax/blob/main/"
                   r"notebooks/([\w.-]+)\.ipynb\)")
MAX_BYTES = 500_000


def _read(name):
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())


def _source(cell):
    return "".join(cell["source"])


def test_the_three_notebooks_replace_quickstart():
    assert all((NOTEBOOKS / f"{name}.ipynb").is_file() for name in NAMES)
    assert not (NOTEBOOKS / "quickstart.ipynb").exists()


@pytest.mark.parametrize("name", NAMES)
def test_notebook_opens_with_badge_and_install_cell_and_has_saved_outputs(name):
    nb = _read(name)
    cells = nb["cells"]
    first = cells[0]
    assert first["cell_type"] == "markdown"
    badge = BADGE.search(_source(first))
    assert badge and badge.group(2) == name, _source(first)[:300]
    install = _source(cells[1])
    assert cells[1]["cell_type"] == "code"
    org = re.search(r'^ORG = "([\w.-]+)"$', install, re.M)
    assert org and org.group(1) == badge.group(1), "badge and install cell name the same owner"
    assert 'pip install "rtt_jax[notebooks] @ git+https://github.com/ORG/rtt_jax"' in install
    assert 'git+https://github.com/{ORG}/rtt_jax' in install
    assert "parameters" in cells[2]["metadata"].get("tags", []) and "SMALL" in _source(cells[2])

    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code), "every code cell was run"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "plots are saved"
    text = "".join("".join(o.get("text", "")) for o in outputs)
    assert "SMALL" not in text and "Traceback" not in text
    assert (NOTEBOOKS / f"{name}.ipynb").stat().st_size < MAX_BYTES


def test_saved_outputs_are_a_full_size_run():
    """02's saved run trained the cpu budget (1200 steps) and traces won by a margin."""
    nb = _read("02_train_and_evaluate")
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c["outputs"])
    assert "--set=train.steps=1200" in text and "--set=eval.n_per_level=100" in text
    tables = "".join("".join(o["data"].get("text/markdown", "")) for c in nb["cells"]
                     if c["cell_type"] == "code" for o in c["outputs"] if "data" in o)
    rows = {m.group(1): float(m.group(2)) for m in
            re.finditer(r"^\| (traces|answer_only) \| 1/1 \| [\d.]+ ± [\d.]+ \| ([\d.]+)", tables, re.M)}
    assert rows["traces"] > 80 > 30 > rows["answer_only"], rows
    nb3 = _read("03_inspect_reasoning")
    text3 = "".join("".join(o.get("text", "")) for c in nb3["cells"] if c["cell_type"] == "code"
                    for o in c["outputs"])
    assert "using notebook 02's traces run" in text3 and "restored step 1200" in text3


def test_readme_links_every_notebook_in_colab():
    readme = (REPO / "README.md").read_text()
    org = re.search(r'^ORG = "([\w.-]+)"$', _source(_read(NAMES[0])["cells"][1]), re.M).group(1)
    linked = {m.group(2) for m in BADGE.finditer(readme) if m.group(1) == org}
    assert linked == set(NAMES)
    assert "quickstart.ipynb" not in readme


def _fresh_venv(tmp_path):
    """A venv with rtt_jax built from this checkout installed into it, its
    dependencies read from the test interpreter's site-packages."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    pathlib.Path(site, "_test_env_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    src = tmp_path / "src"  # build from a copy: no build/ or egg-info in the checkout
    shutil.copytree(REPO / "rtt_jax", src / "rtt_jax",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(REPO / "setup.py", src / "setup.py")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--ignore-installed", str(src)], check=True, cwd=tmp_path)
    # A kernel spec that runs this venv's python, whatever kernels the machine has.
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(venv),
                    "--name", "rtt-notebook-test"], check=True, capture_output=True)
    shutil.rmtree(src)
    return python


@pytest.mark.slow
def test_notebooks_execute_from_outside_the_repository(tmp_path):
    python = _fresh_venv(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    for name in NAMES:
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", work)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # One CPU device, as on Colab (conftest asks for 8 fake ones).
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace(
        "--xla_force_host_platform_device_count=8", "").strip()
    env["RTT_NOTEBOOK_SMALL"] = "1"
    where = subprocess.run([str(python), "-c", "import rtt_jax.configs.base as b; print(b.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(tmp_path / "venv")), where

    r = subprocess.run([str(python), "-m", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.kernel_name=rtt-notebook-test",
                        "--ExecutePreprocessor.timeout=600", "--output-dir", str(work / "out"),
                        *[f"{n}.ipynb" for n in NAMES]],
                       cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]

    def text(name):
        nb = json.loads((work / "out" / f"{name}.ipynb").read_text())
        return "".join("".join(o.get("text", "")) + json.dumps(o.get("data", {}))
                       for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])

    assert "first invalid step 3; answer still correct: True" in text(NAMES[0])
    runs = work / "rtt_workdirs" / "traces_vs_answer"
    results = json.loads((runs / "results.json").read_text())
    assert set(results["arms"]) == {"traces", "answer_only"}
    for arm in ("traces", "answer_only"):
        report = json.loads((runs / "runs" / arm / "seed_0" / "report.json").read_text())
        assert report["step"] == 20
        assert sorted(e["level"] for e in report["sets"].values()) == [*range(1, 11), 12]
    out3 = text(NAMES[2])
    assert "using notebook 02's traces run" in out3
    assert "same text with and without the calculator: True" in out3
