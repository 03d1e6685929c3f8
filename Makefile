# The README's two commands: `make run` and `make test`. Both create .venv on first use and
# install the package; later runs skip the install unless pyproject.toml changed (stamp file).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   := data/synthetic
REPORTS := reports

.PHONY: run test lint install clean

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# constraints.txt pins the whole tested stack; pyproject.toml only says which ranges the package accepts.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The pipeline's commands are one list, inspectnet/pipeline.py, which the card's Reproduction section prints:
# the data steps stop the run at once; a failed criterion does not (both pytest sessions run, the card is
# rendered from whatever records they wrote, and then the run exits non-zero).
run: $(STAMP)
	$(BIN)/python -m inspectnet.pipeline --data $(DATA) --reports $(REPORTS)

lint: $(STAMP)
	$(BIN)/ruff check inspectnet tests benchmarks parity candidates conftest.py
	$(BIN)/ruff format --check inspectnet tests benchmarks parity candidates conftest.py
	$(BIN)/mypy inspectnet

# The whole suite: unit and plugin tests, then the accuracy and parity criteria on the embedded dataset
# (pytest.ini's testpaths: tests, parity), then the deployment candidates of one category (bottle) with their
# mutation tests (`make run` builds all four categories'), into a fresh directory, gated against the committed
# reports/ (an accuracy drop, a parity break or a candidate turning rejected fails). Latency (benchmarks/) is
# measured by `make run`, not here: timings taken while a test suite shares the cores are not numbers to keep.
# Its records go to a scratch directory so that a test run never rewrites the committed reports/.
test: lint
	rm -rf .inspectnet/test-run
	$(BIN)/pytest -m "not candidates" --report-dir .inspectnet/test-run/eval_harness
	$(BIN)/pytest candidates --category bottle --report-dir .inspectnet/test-run/eval_harness --baseline $(REPORTS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
