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

# Without a GPU (no nvidia-smi), PyTorch's CPU-only wheels first when their index answers within 3 s: about
# 4 GB less than the CUDA build with its libraries and triton (6.2 GB), and pip then keeps them. Where it
# cannot be reached (0.2-0.3 s to find out on the development machine, whose pip serves torch 2.14.1 from
# local disk), the default index at once.
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	@if command -v nvidia-smi >/dev/null 2>&1; then :; \
	elif python3 -c "import urllib.request as u; u.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=3)" 2>/dev/null; then \
	  echo "no GPU here: PyTorch's CPU-only wheels from $(TORCH_CPU_INDEX)"; \
	  $(BIN)/pip install -q --index-url $(TORCH_CPU_INDEX) 'torch>=2.1' 'torchvision>=0.16'; \
	else echo "no GPU here, and $(TORCH_CPU_INDEX) is out of reach: PyTorch from the default index"; fi
	$(BIN)/pip install -q -e '.[dev]'
	touch $@
