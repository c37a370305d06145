# The two commands a newcomer needs: `make run` and `make test`.
# Both set up everything they need (virtual environment, packages, database).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/commerce_sync
DEMO_ENV := var/.env

.PHONY: help install run demo test test-deep lint format lock clean soak mutate

help:
	@echo "make run    set up, seed Demo Café, sync its last 7 days, serve http://127.0.0.1:8000 and Fava on :5000"
	@echo "make demo   the same without serving (a smoke test; non-zero on failure)"
	@echo "make test   set up, lint, run the whole suite on PostgreSQL"
	@echo "make lock   re-pin requirements/*.txt from requirements/*.in"
	@echo "make mutate mutation testing of mapping/ and the push path (mutmut); prints survivors and the score"
	@echo "make soak   1,000 SIGKILL trials and 1,000 syncs at 30 % faults; prints duplicates and missing"
	@echo "make test-deep  the suite with more generated cases and trials (slow)"

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

# The demo's steps; DEMO_STRICT=0 (make run) warns about a failed sync and
# serves anyway, DEMO_STRICT=1 (make demo, the smoke test) fails on it.
define demo_steps
	$(PY) scripts/compile_messages.py
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py migrate --no-input -v 0
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py seed_demo
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py setup_schedules
	ENV_FILE=$(DEMO_ENV) $(PY) manage.py sync --merchant demo-cafe || [ "$(1)" = 0 ]
	ENV_FILE=$(DEMO_ENV) DEMO_STRICT=$(1) $(PY) scripts/check_demo_ledger.py
endef

demo: install $(DEMO_ENV)
	$(call demo_steps,1)

run: install $(DEMO_ENV)
	$(call demo_steps,0)
	ENV_FILE=$(DEMO_ENV) scripts/serve.sh

test: install lint
	$(PY) scripts/compile_messages.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) scripts/ensure_database.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest

# The suite with the generated-case and trial counts raised (the default run
# keeps them small to stay fast on two cores).
test-deep: install
	$(PY) scripts/compile_messages.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) scripts/ensure_database.py
	DATABASE_URL=$(TEST_DATABASE_URL) SCHEMATHESIS_EXAMPLES=30 SCHEMATHESIS_PUSH_EXAMPLES=300 \
	  CRASH_TRIALS=100 FAULT_MERCHANTS=8 FAULT_DAYS=20 $(VENV)/bin/pytest

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

# Long: about an hour on two cores. SOAK_TRIALS, SOAK_FAULT_MERCHANTS and
# SOAK_FAULT_DAYS override the sizes (merchants x days = syncs).
SOAK_TRIALS ?= 1000
SOAK_FAULT_MERCHANTS ?= 20
SOAK_FAULT_DAYS ?= 50
soak: install
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) scripts/ensure_database.py
	rm -f var/soak.jsonl && mkdir -p var
	-DATABASE_URL=$(TEST_DATABASE_URL) SOAK_REPORT=var/soak.jsonl CRASH_TRIALS=$(SOAK_TRIALS) \
	  FAULT_MERCHANTS=$(SOAK_FAULT_MERCHANTS) FAULT_DAYS=$(SOAK_FAULT_DAYS) \
	  $(VENV)/bin/pytest -q -p no:cacheprovider tests/core/test_exactly_once.py \
	  -k "killed_at_any_moment or under_transient_faults"
	@cat var/soak.jsonl
	@$(PY) -c "import json,sys; rows=[json.loads(l) for l in open('var/soak.jsonl')]; \
	  bad=[r for r in rows if r['duplicates'] or r['missing']]; done={r['test'] for r in rows}; \
	  sys.exit(1 if bad or not {'SIGKILL at any moment', 'transient faults at 30 %'} <= done else 0)"

# What `make run` created: the virtual environment, var/ (settings, database,
# ledgers, admin password) and the compiled translations; and `make mutate`'s
# copy of the repository with its results (mutants/).
clean:
	rm -rf $(VENV) var mutants
	find . -path '*/locale/*' -name '*.mo' -not -path './$(VENV)/*' -delete

# Mutation testing (never part of `make test`): mutmut mutates mapping/ and
# commerce_sync/syncs/push.py in a copy (mutants/) and runs, per mutant, the
# tests of [tool.mutmut] in pyproject.toml that reached the mutated function.
# MUTANTS narrows it to name patterns, e.g. MUTANTS='mapping.money*
# mapping.keys*' (README, "Mutation testing"); empty is every mutant,
# several hours on two shared cores. Runs at nice 10 (MUTATE_NICE). Prints
# the survivors and the score, leaving out the equivalent mutants listed in
# docs/mutation-equivalents.txt.
MUTANTS ?=
MUTATE_CHILDREN ?= 2
MUTATE_NICE ?= nice -n 10
SHARED_DIR ?= $(abspath ../shared)
mutate: install
	$(PY) scripts/compile_messages.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) scripts/ensure_database.py
	rm -rf mutants
	-DATABASE_URL=$(TEST_DATABASE_URL) COMMERCE_SYNC_SHARED=$(SHARED_DIR) PROPERTY_EXAMPLES=10 \
	  $(MUTATE_NICE) $(VENV)/bin/mutmut run --max-children $(MUTATE_CHILDREN) $(MUTANTS)
	$(PY) scripts/mutation_score.py $(MUTANTS)
