# speechvae: set-up from scratch, demo, tests, benchmarks.
# The CPU build of torch is installed first so that `pip install -e .` finds torch>=2.1
# already satisfied and does not pull a multi-GB CUDA build. Override e.g.
#   make test TORCH_SPEC='torch==2.4.1 --index-url https://download.pytorch.org/whl/cpu'
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash recipes/demo/run.sh

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/analysis.py
	$(PY) benchmarks/train.py
	$(PY) benchmarks/fixes.py

clean:
	rm -rf $(VENV) data/demo exp/demo
