# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test unit service lint bench clean chromium pgbouncer screenshot package

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
# every `make run` serves the same key and prints a curl command that reads it from there
# (serve logs only the key's prefix, never the key).
run: $(RUN_STAMP)
	@mkdir -p data
	@test -s data/dev-api-key || $(BIN)/grantledger keys create --org default > data/dev-api-key
	GRANTLEDGER_WEBHOOK_ALLOW_PRIVATE=1 GRANTLEDGER_BOOTSTRAP_KEY_FILE=data/dev-api-key $(BIN)/grantledger serve --host $(HOST) --port $(PORT)

# Lint, check formatting, type-check, then the whole suite on SQLite and PostgreSQL.
test: $(TEST_STAMP) chromium pgbouncer
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/grantledger
	$(BIN)/python -m pytest --cov --cov-report=term

# The pure tier alone (domain rules, money and ids, the client's retry policy): seconds, no
# server, no database.
unit: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/unit -q

# The service tier alone: the use cases run in-process on SQLite (no server, no HTTP), seconds.
service: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/service -q

# The browser tests of the console drive Debian's own Chromium and its driver (never a
# downloaded browser). Installed once, as root with apt-get; elsewhere the tests say why they
# skip (and fail instead when CI=true).
chromium:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } \
		|| { echo "chromium: apt-get install failed"; [ "$$CI" != true ] || exit 1; }; \
	else \
		echo "chromium: not installed and apt-get needs root; the browser tests will be skipped"; \
	fi

# The pooler tests (tests/api/test_pooler.py) run Debian's PgBouncer in transaction mode in
# front of the test database; installed once, as root with apt-get, like chromium above.
pgbouncer:
	@if command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's pgbouncer for the pooler tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q pgbouncer >/dev/null 2>&1 \
		|| { apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null; } \
		|| { echo "pgbouncer: apt-get install failed"; [ "$$CI" != true ] || exit 1; }; \
	else \
		echo "pgbouncer: not installed and apt-get needs root; the pooler tests will be skipped"; \
	fi

# Refresh docs/console.png, the screenshot of an account page taken by the browser tests.
screenshot: $(TEST_STAMP) chromium
	GRANTLEDGER_SCREENSHOT=docs/console.png $(BIN)/python -m pytest tests/browser -q -k "round_trip and sqlite"

bench: $(TEST_STAMP)
	$(BIN)/python bench/entitled.py --modes spread,hot,plan-spread,sqlite-spread,sqlite-hot
	$(BIN)/python bench/reads.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
