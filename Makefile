# seral: `make demo` runs the pipeline on the embedded synthetic corpus, `make test` runs the tests.
# Both create the virtual environment in .venv on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-out
CORPUS ?= ../shared/corpora/emodb/wav

.PHONY: venv venv-core demo test browser shells completions bench clean

# The core install (no PyTorch) is all the demo needs.
$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

# The tests exercise every extra; resemblyzer's wheel only for its GE2E weights (see pyproject.toml).
$(VENV)/.installed: $(VENV)/.core
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps "resemblyzer>=0.1.4"
	touch $@

venv-core: $(VENV)/.core
venv: $(VENV)/.installed

demo: venv-core
	$(BIN)/seral synth $(DEMO)/corpus
	$(BIN)/seral extract --feat logmel $(DEMO)/corpus/manifest.csv $(DEMO)/logmel.parquet
	$(BIN)/seral info $(DEMO)/logmel.parquet
	$(BIN)/seral mal-select --budget 10% $(DEMO)/logmel.parquet $(DEMO)/queue.parquet
	$(BIN)/seral evaluate al --select $(DEMO)/logmel.parquet --classify $(DEMO)/logmel.parquet \
	    --plot $(DEMO)/al.png $(DEMO)/al.parquet
	@echo
	@echo "Results in $(DEMO)/:"
	@echo "  corpus/          synthetic WAVs + manifest.csv (a stand-in for a real corpus)"
	@echo "  logmel.parquet   600-dim log-mel functionals per utterance"
	@echo "  queue.parquet    the annotation queue, seral's default (rank 1 = annotate first)"
	@echo "  al.parquet       the active-learning simulation, the default queue vs random; al.png its figure"
	@echo "Inspect a table with: $(BIN)/seral info $(DEMO)/queue.parquet"

# The browser test of `seral annotate` drives Debian's Chromium (Playwright downloads no
# browser). Installed here when absent and we are root with apt-get; otherwise the test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  { echo "installing Debian's chromium for the browser test"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "could not install chromium: the browser test will skip"

# The completion tests run zsh and fish where they are installed: Debian's, installed here
# when absent and we are root with apt-get; otherwise those tests skip.
shells:
	@{ command -v zsh && command -v fish; } >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  { echo "installing Debian's zsh and fish for the completion tests"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zsh fish >/dev/null; } || \
	  echo "could not install zsh and fish: their completion tests will skip"

test: venv browser shells
	$(BIN)/python -m pytest -q

completions: venv
	$(BIN)/python -m seraltools.cli.completion completions

# Figures of the issues' "must show" items; EMO-DB from ../shared (override CORPUS=...).
bench: venv
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python benchmarks/extract_throughput.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/al_fidelity.py --emodb $(CORPUS) --out bench-out/al
	$(BIN)/python benchmarks/mal_queue.py --emodb $(CORPUS) --out bench-out/al
	$(BIN)/python benchmarks/al_reduce.py --out bench-out/al
	$(BIN)/python benchmarks/mal_scale.py
	$(BIN)/python benchmarks/tsne_speed.py
	$(BIN)/python benchmarks/cpc_emodb.py --corpus $(CORPUS) --out bench-out
	$(BIN)/python benchmarks/speaker_emodb.py --corpus $(CORPUS) --out bench-out
	$(BIN)/python benchmarks/ser_table2.py --out bench-out/table2
	$(BIN)/python benchmarks/scaling.py --corpus $(CORPUS)
	$(BIN)/python benchmarks/contention.py --emodb $(CORPUS)
	$(BIN)/python benchmarks/long_files.py
	$(BIN)/python benchmarks/segment.py --emodb $(CORPUS)
	$(BIN)/python benchmarks/predict.py --emodb $(CORPUS)
	$(BIN)/python benchmarks/mal_rounds.py --emodb $(CORPUS)
	$(BIN)/python benchmarks/annotate_kill.py
	$(BIN)/python benchmarks/al_selectors.py --emodb $(CORPUS) --out bench-out/al
	$(BIN)/python benchmarks/selectors_scale.py
	$(BIN)/python benchmarks/ser_table3.py --emodb $(CORPUS) --out bench-out/table3

clean:
	rm -rf $(DEMO) .pytest_cache
