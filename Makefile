# Two commands: `make demo` and `make test` (`make test-fast`: its fast tier).
# Each creates .venv and installs the package when it is missing or setup.py
# changed, then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-extras-stamp
DEMO_DIR ?= workdirs/demo
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint bench venv clean
venv: $(STAMP)
.venv: $(STAMP)

# The demo needs the package and matplotlib; the tests add pytest, nbformat and
# reasoning-gym on top (a second stamp), so `make demo` on a fresh machine
# installs only what it runs.
$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[plots]'
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,plots,gym]'
	touch $(TEST_STAMP)

# The headline experiment at CPU scale: traces vs answer-only on modular sums
# (configs/experiments/traces_vs_answer.py), 3 seeds per arm, runs side by side
# (one per core, at most 6); prints the comparison table, writes report.md
# (= results.md) with plots, and ends with the path of results.json.
DEMO_PARALLEL ?= $(shell $(PYTHON) -c "import os; print(min(6, len(os.sched_getaffinity(0))))")
demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(PY) -m rtt_jax.experiments.run --experiment=traces_vs_answer --variant=cpu \
		--parallel=$(DEMO_PARALLEL) --out=$(DEMO_DIR) --report_copy=report.md

# Every test, one pytest worker per core (pytest-xdist); tests that must share
# a worker carry @pytest.mark.xdist_group. pytest's settings (markers, the
# per-test timeout) are in pyproject.toml.
test: $(TEST_STAMP)
	$(PY) -m pytest tests -q -n auto --dist=loadgroup $(PYTEST_ARGS)

# The fast tier: no subprocesses, no second process, no training beyond a few
# steps, one pytest worker per core. Tests that need more are marked
# @pytest.mark.slow and run only in `make test`.
test-fast: $(TEST_STAMP)
	$(PY) -m pytest tests -q -m "not slow" -n auto --dist=loadgroup $(PYTEST_ARGS)

# ruff with the rules in pyproject.toml (.ci/run runs it before the tests).
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) workdirs *.egg-info
