# speechvae: set-up from scratch, demo, tests, benchmarks.
# torch is installed first, as chosen below, so that `pip install -e .` finds torch>=2.1 already
# satisfied and never pulls a build of its own choosing.
#   TORCH_SPEC   the requirement (default torch==2.13.0)
#   TORCH_INDEX  where pip looks for it (default: pip's own configuration). On an ordinary Linux
#                machine PyPI's default torch wheel is the CUDA build (several GB of NVIDIA packages):
#                  make test TORCH_INDEX=https://download.pytorch.org/whl/cpu      # CPU only, ~200 MB
#                  make test TORCH_INDEX=https://download.pytorch.org/whl/cu126    # a CUDA 12.6 build
#                (this project's own machines serve torch==2.13.0 as a CPU wheel from local disk)
#   TORCH_SPEC=  (empty) keeps whatever torch the venv already has.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint docs bench browser-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(strip $(TORCH_SPEC)),$(PY) -m pip install -q $(TORCH_SPEC) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)))
	$(PY) -m pip install -q -e '.[dev,quality]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash recipes/demo/run.sh

# Lint, then the test suite (tests/test_docs.py builds the docs site, warnings as errors): what CI runs.
test: $(STAMP)
	$(VENV)/bin/ruff check speechvae tests benchmarks docs
	$(PY) -m pytest -q --durations=10

lint: $(STAMP)
	$(VENV)/bin/ruff check speechvae tests benchmarks docs

# The documentation site (Sphinx + myst-parser, offline) -> docs/_build/html/index.html.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html

# The listening page in headless Chromium (Debian: apt-get install chromium): no console message, no
# missing resource, the table sorts; the screenshot lands in data/listening_page.png.
browser-check: $(STAMP)
	@command -v chromium >/dev/null || { echo "browser-check needs Debian's chromium: apt-get install chromium" >&2; exit 1; }
	SPEECHVAE_SCREENSHOT=data/listening_page.png $(PY) -m pytest -q -rs tests/test_listening.py tests/test_vc_quality.py

bench: $(STAMP)
	$(PY) benchmarks/analysis.py
	$(PY) benchmarks/train.py
	$(PY) benchmarks/fixes.py
	$(PY) benchmarks/vq.py
	$(PY) benchmarks/codec.py
	$(PY) benchmarks/framestore.py
	$(PY) benchmarks/vc.py
	$(PY) benchmarks/vc_parallel.py
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/corpus.py

clean:
	rm -rf $(VENV) data/demo exp/demo docs/_build
