# Every target creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# The OpenID provider peer of tests/peers: npm writes node_modules/.package-lock.json on every
# install, so it doubles as the stamp (and an `npm ci` run by hand or by .ci/run satisfies it).
PEER := tests/peers/oidc_provider
PEER_STAMP := $(PEER)/node_modules/.package-lock.json
NPM_CI := npm ci --prefix $(PEER) --no-audit --no-fund --no-update-notifier --loglevel=error

.PHONY: demo test lint typecheck unit serve bench fuzz soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Without npm the peer's tests skip (and fail under REVOKER_REQUIRE_SERVICES=1, as in CI).
$(PEER_STAMP): $(PEER)/package.json $(PEER)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then $(NPM_CI) >/dev/null && touch $@; \
	else echo "npm not found: the OpenID provider peer tests will skip (tests/peers/README.md)"; fi

demo: $(STAMP)
	$(BIN)/revoker demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks fuzz examples
	$(BIN)/ruff format --check src tests benchmarks fuzz examples
	$(BIN)/cfn-lint deploy/aws/template.yaml

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(PEER_STAMP)
	$(BIN)/pytest

serve: $(STAMP)
	$(BIN)/revoker serve --dev-issuer

bench: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python benchmarks/verify_hot_path.py
	$(BIN)/python benchmarks/inprocess.py
	$(BIN)/python benchmarks/lambda_handler.py
	$(BIN)/python benchmarks/http_auth.py
	$(BIN)/python benchmarks/propagation.py
	$(BIN)/python benchmarks/replica_memory.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/inapp.py
	$(BIN)/python benchmarks/ssf_push.py
	$(BIN)/python benchmarks/aws_close.py

fuzz: $(STAMP)
	mkdir -p fuzz/corpus/tokens fuzz/corpus/verify fuzz/artifacts
	$(BIN)/python fuzz/fuzz_tokens.py -max_total_time=300 fuzz/corpus/tokens -artifact_prefix=fuzz/artifacts/
	$(BIN)/python fuzz/fuzz_verify.py -max_total_time=300 fuzz/corpus/verify -artifact_prefix=fuzz/artifacts/

soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(PEER)/node_modules
