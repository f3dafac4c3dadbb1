# One command sets up and runs the dashboard, one sets up and runs the tests (CI uses `make test`).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup run test bench demo clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	# The project itself, editable: `import facefake_core` and the `facefake` command work from any folder.
	$(PY) -m pip install -q --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/streamlit run dashboard/app.py

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/run.py

demo: setup
	$(VENV)/bin/facefake demo build

clean:
	rm -rf $(VENV) .pytest_cache
