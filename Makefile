# Two entry points (see README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of PyTorch. It is installed only when the venv has no torch yet, so a user who
# already put a CUDA torch in the venv (or sets TORCH_SPEC) keeps it.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# The main job: a deep clustering method on the embedded default dataset (sklearn digits).
demo: setup
	$(BIN)/deepclust fit --method idec --dataset digits --preset cpu --seed 0 --out runs

test: setup
	$(BIN)/python -m pytest -q -x tests

clean:
	rm -rf $(VENV) runs .pytest_cache
