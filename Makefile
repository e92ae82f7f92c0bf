# The two commands of the README: `make demo` (set up + mini Table 2 + its report) and `make test` (the fast
# tier); `make test-all` (what .ci/run calls) adds the slow tests: end-to-end grids, kills and races, SLURM, CUDA.
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test test-all lint speed

demo: $(VENV)/.installed
	$(BIN)/gdw-bench run --table 2 --profile mini --threads 1
	$(BIN)/gdw-bench report --table 2 --profile mini

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

test-all: lint
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .

speed: $(VENV)/.installed
	$(BIN)/gdw-bench speed

# torch==2.14.1 / torchvision==0.29.1 are admitted by pyproject's ranges (and served from local disk here).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@
