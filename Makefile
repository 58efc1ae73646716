# Two commands for a newcomer: `make run` and `make test`. Each creates or reuses .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast pytest-fast lint typecheck pytest bench venv clean sim console

venv: $(STAMP)

$(STAMP): pyproject.toml simulator/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ./simulator -e '.[dev,sim]'
	@# Kerberos (pykerberos, gssapi) builds against MIT Kerberos; without it those tests skip
	@if command -v krb5-config >/dev/null 2>&1; then \
	  $(BIN)/python -m pip install --quiet -e './simulator[kerberos]' -e '.[kerberos]'; \
	else echo "note: MIT Kerberos not found (apt-get install krb5-kdc krb5-admin-server libkrb5-dev): the kerberos tests will skip"; fi
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/cloudsync run

console: $(STAMP)
	$(BIN)/cloudsync console

sim: $(STAMP)
	$(BIN)/cloudsync sim --listen 127.0.0.1:5985 --account 'CONTOSO\svc-cloudsync:Demo-WinRM-7f3k!q'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy bot workers simulator

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# everything but the tests marked e2e (those start Celery workers, the local stack, bench stacks)
pytest-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e"

test-fast: lint typecheck pytest-fast

RUNS ?= 1
bench: $(STAMP)
	if [ "$(RUNS)" = 1 ]; then $(BIN)/python -m bench.run; else $(BIN)/python -m bench.spread --runs $(RUNS); fi

clean:
	rm -rf $(VENV) .cloudsync .mypy_cache .ruff_cache .pytest_cache .hypothesis
