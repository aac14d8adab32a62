# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export HOST PORT

.PHONY: run test install clean mutants sandbox

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/timehub db upgrade
	$(BIN)/timehub serve

# An offline demo (README "Try it offline"): every provider replaced by the fake the tests use
# (tests/fakes/, hence the test extras `install` brings), demo data, in-process jobs, on HOST:PORT.
# instance-sandbox/ is emptied at every start. Ctrl-C stops it all.
sandbox: install
	$(BIN)/python -m tests.sandbox

# One pytest worker per CPU (pytest-xdist), each file whole on one worker (its module-scoped
# fakes built once); TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= auto
test: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Mutation testing ([tool.mutmut] in pyproject.toml), at the lowest priority with one child; not part of
# `make test`. By default the sample of docs/testing.md ("Mutation runs"): of the sync engine, the OAuth
# engine and the Jira connector (jira.py and jira_site.py, which it shares with Data Center), every mutant
# whose number ends in 1 (each function's first, then every tenth). MUTANT_SAMPLE='*' runs all their
# mutants; MUTANTS names others, e.g. MUTANTS='app.integrations.oauth*'.
MUTANT_SAMPLE ?= *1
MUTANT_MODULES ?= app.services.sync_service app.integrations.oauth app.integrations.jira app.integrations.jira_site
MUTANTS ?= $(foreach module,$(MUTANT_MODULES),$(module).*__mutmut_$(MUTANT_SAMPLE))
mutants: install
	nice -n 19 $(BIN)/mutmut run --max-children 1 $(foreach pattern,$(MUTANTS),'$(pattern)')
	$(BIN)/python -m tests.mutation_report $(foreach pattern,$(MUTANTS),'$(pattern)')

clean:
	rm -rf $(VENV) .pytest_cache mutants
