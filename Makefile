# Two commands: `make demo` and `make test`. Each creates .venv and installs the
# package when it is missing or setup.py changed, then runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= workdirs/demo
PYTEST_ARGS ?=

.PHONY: demo test bench venv clean
venv: $(STAMP)
.venv: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,plots,gym]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(PY) -m rtt_jax.main --config=configs/base.py:cpu --workdir=$(DEMO_DIR)
	$(PY) -m rtt_jax.train.summary $(DEMO_DIR)
	$(PY) -m rtt_jax.main --mode=eval --config=configs/base.py:cpu --workdir=$(DEMO_DIR)

test: $(STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/train_throughput.py

clean:
	rm -rf $(VENV) workdirs *.egg-info
