# stepstone — the two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup setup-dev lint bench ship-me5 ship-me5-gpu ship-me5-cpu-sizes clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<81" wheel

# The service and CLI: no torch.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# Tests need the trainer extra; torch 2.13.0 first so pip takes the CPU wheel, not the CUDA build.
# (`make test` prints how long setup and the tests took: most of a fresh clone's time is installing torch.)
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,dev]"
	touch $(VENV)/.installed $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

run: setup
	$(BIN)/stepstone init
	@echo "Serving on http://$(HOST):$(PORT) (docs at /docs). Set STEPSTONE_API_TOKEN=<secret> to require 'Authorization: Bearer <secret>' on writes."
	$(BIN)/stepstone serve --host $(HOST) --port $(PORT)

test:
	@t0=$$(date +%s); $(MAKE) --no-print-directory setup-dev || exit 1; \
	echo "make test: setup took $$(( $$(date +%s) - t0 )) s; the tests' own time is on pytest's last line"; \
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup-dev
	$(BIN)/python bench/recommend.py

# The shipped me5-small runs and their provenance (feature_store/data/PROVENANCE.md) from a
# matrix folder: every finished job's runs, baselines filled, in job order (the store is not used).
ME5_OUT ?= out/me5-small-matrix
ship-me5: setup
	$(BIN)/stepstone train export $(ME5_OUT) --dataset stepstone-me5-small --out feature_store/data/me5_small_intermediate.csv
	$(BIN)/stepstone train export $(ME5_OUT) --dataset stepstone-me5-small-sizes --out feature_store/data/me5_small_sst2_sizes.csv
	$(BIN)/stepstone train cells $(ME5_OUT) --out feature_store/data/me5_small_cells.csv

# The three-seed GPU matrix (bench/gpu/run_matrix.sh; its results unpacked under GPU_OUT): runs,
# size sweeps, per-phase record and the recipes' dev checks on every seed.
GPU_OUT ?= out
ship-me5-gpu: setup
	$(BIN)/stepstone train export $(GPU_OUT)/me5-small-gpu --dataset stepstone-me5-small-gpu --out feature_store/data/me5_small_gpu_intermediate.csv
	$(BIN)/stepstone train export $(GPU_OUT)/me5-small-gpu-sizes-epochs --out feature_store/data/me5_small_gpu_sizes_epochs.csv
	$(BIN)/stepstone train export $(GPU_OUT)/me5-small-gpu-sizes-updates --out feature_store/data/me5_small_gpu_sizes_updates.csv
	$(BIN)/stepstone train cells $(GPU_OUT)/me5-small-gpu --out feature_store/data/me5_small_gpu_cells.csv
	$(BIN)/python bench/recipes.py --report $(GPU_OUT)/me5-small-gpu --device gpu

# The SST-2 size sweeps on CPU (me5_small_cpu_sizes_{epochs,updates}.toml, run with `stepstone train
# matrix --config ... --resume`): runs and per-phase records.
ship-me5-cpu-sizes: setup
	for k in epochs updates; do \
	  $(BIN)/stepstone train export out/me5-small-cpu-sizes-$$k --out feature_store/data/me5_small_cpu_sizes_$$k.csv && \
	  $(BIN)/stepstone train cells out/me5-small-cpu-sizes-$$k --out feature_store/data/me5_small_cpu_sizes_$${k}_cells.csv \
	  || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
