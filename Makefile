# Two commands do all the set-up on a fresh clone: `make demo` (the example training flow, metered,
# gated and recorded) and `make test` (the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS := prefect,dask,postgres,examples,report,dev

.PHONY: setup demo demo-reschedule test lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

# The last step matches the example's signed certificate export (signed with the DEMO registry key
# of examples/certificates/, whose private half is public) hour by hour to its consumption file and
# prints the CFE score: the example flow itself draws well under the 1 Wh of one certificate.
demo: setup
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) examples/train_flow.py
	$(VENV)/bin/carbonguard audit verify
	$(VENV)/bin/carbonguard match --policy policies/example-matching.yaml \
		--certificates examples/certificates/demo-certificates.json \
		--consumption examples/certificates/demo-consumption.csv

demo-reschedule: setup
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(PY) examples/reschedule_flow.py
	$(VENV)/bin/carbonguard audit verify

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check carbonguard tests benchmarks scripts examples tools

clean:
	rm -rf $(VENV) .carbonguard artifacts .pytest_cache
