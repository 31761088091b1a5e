# edgemeter: two commands for a newcomer.
#   make run   - the whole system on this machine (DynamoDB Local, S3 origin, credits API, CDN)
#   make test  - lint, type-check, every test, cdk synth + cdk-nag + cfn-lint
# Each target installs what it needs by itself (virtualenv, npm packages, DynamoDB Local).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

# Never talk to real AWS from this Makefile, never phone home.
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_EC2_METADATA_DISABLED := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all install run test lint typecheck pytest synth synth-check bench soak audit clean

all: test

$(VENV_STAMP): requirements.txt functions/credits/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "edgemeter needs Python 3.11+")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV_STAMP) $(NODE_STAMP)

run: install
	$(PY) -m local.run $(ARGS)

lint: $(VENV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV_STAMP)
	$(BIN)/mypy .

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

synth: install
	npx --no-install cdk synth --quiet --no-notices $(CDK_ARGS)

# cdk synth for every supported origin kind, then cfn-lint on each template.
# cdk-nag runs inside the synth (Validations) and fails it on any unsuppressed finding.
synth-check: install
	rm -rf cdk.out
	npx --no-install cdk synth --quiet --no-notices -c edgemeter:originKind=s3 --output cdk.out/s3
	npx --no-install cdk synth --quiet --no-notices -c edgemeter:originKind=custom --output cdk.out/custom
	$(BIN)/cfn-lint cdk.out/s3/*.template.json cdk.out/custom/*.template.json

test: lint typecheck pytest synth-check

bench: install
	$(PY) -m bench.run $(ARGS)

soak: install
	$(BIN)/pytest tests/reliability -m soak $(PYTEST_ARGS)

audit: install
	$(BIN)/edgemeter audit $(ARGS)

clean:
	rm -rf $(VENV) node_modules cdk.out .build .mypy_cache .ruff_cache .pytest_cache .hypothesis
