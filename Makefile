# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test unit lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

# Serve on SQLite (./data/grantledger.db). The dev key is kept in data/dev-api-key so that
# every `make run` prints the same working key and curl command.
run: $(RUN_STAMP)
	@mkdir -p data
	@test -s data/dev-api-key || $(BIN)/grantledger keys create --org default > data/dev-api-key
	GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE=1 GRANTLEDGER_BOOTSTRAP_KEY=$$(cat data/dev-api-key) $(BIN)/grantledger serve --host $(HOST) --port $(PORT)

# Lint, type-check, then the whole suite on SQLite and PostgreSQL.
test: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/grantledger
	$(BIN)/python -m pytest --cov --cov-report=term

# The pure tier alone (domain rules, money and ids, the client's retry policy): seconds, no
# server, no database.
unit: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/unit -q

bench: $(TEST_STAMP)
	$(BIN)/python bench/entitled.py --modes spread,hot,sqlite-spread,sqlite-hot
	$(BIN)/python bench/reads.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
