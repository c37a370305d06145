# The two commands a newcomer needs: `make run` and `make test`.
# Both set up everything they need (virtual environment, packages, database).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/commerce_sync
DEMO_ENV := var/.env

.PHONY: help install run demo test lint format lock clean

help:
	@echo "make run    set up, seed Demo Café, sync its last 7 days, serve http://127.0.0.1:8000"
	@echo "make demo   the same without serving (a smoke test; non-zero on failure)"
	@echo "make test   set up, lint, run the whole suite on PostgreSQL"
	@echo "make lock   re-pin requirements/*.txt from requirements/*.in"

$(STAMP): requirements/base.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements/base.txt -r requirements/dev.txt
	touch $@

install: $(STAMP)
	$(PY) scripts/compile_messages.py

# The embedded default's settings: generated once, kept out of git.
$(DEMO_ENV): | $(STAMP)
	$(PY) scripts/make_env.py $@

demo: install $(DEMO_ENV)
	$(PY) scripts/compile_messages.py
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py migrate --no-input -v 0
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py seed_demo
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py setup_schedules
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py sync --merchant demo-cafe
	ENV_FILE=$(DEMO_ENV) $(PY) scripts/check_demo_ledger.py

run: demo
	ENV_FILE=$(DEMO_ENV) scripts/serve.sh

test: install lint
	$(PY) scripts/compile_messages.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) scripts/ensure_database.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: install
	cd requirements && ../$(VENV)/bin/pip-compile -q --allow-unsafe --strip-extras --generate-hashes --no-emit-find-links --no-emit-index-url -o base.txt base.in
	cd requirements && ../$(VENV)/bin/pip-compile -q --allow-unsafe --strip-extras --generate-hashes --no-emit-find-links --no-emit-index-url -o dev.txt dev.in

clean:
	rm -rf $(VENV) var
