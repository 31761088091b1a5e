# edgemeter: two commands for a newcomer.
#   make run   - the whole system on this machine (DynamoDB Local, S3 origin, credits API, CDN)
#   make test  - lint + import contracts, type-check, every test, cdk synth + cdk-nag + cfn-lint
# Each target installs what it needs by itself (virtualenv, npm packages, DynamoDB Local).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The billing console (console/): built by npm into console/dist, served at /console.
CONSOLE_STAMP := console/dist/.built
CONSOLE_SOURCES := $(wildcard console/src/*) console/package.json console/package-lock.json \
	console/build.mjs console/tsconfig.json
# The browser tests drive Debian's Chromium (no browser download); apt-get installs it when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# Never talk to real AWS from this Makefile, never phone home.
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_EC2_METADATA_DISABLED := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all install console browser run test lint typecheck pytest synth synth-check bench soak audit clean

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

$(CONSOLE_STAMP): $(CONSOLE_SOURCES)
	cd console && npm ci --no-audit --no-fund --loglevel=error && npm run build
	touch $@

console: $(CONSOLE_STAMP)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

browser: $(CHROMIUM)

install: $(VENV_STAMP) $(NODE_STAMP) $(CONSOLE_STAMP)

run: install
	$(PY) -m local.run $(ARGS)

# lint-imports checks the import contracts of pyproject.toml [tool.importlinter] (layers, no cycles).
lint: $(VENV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: $(VENV_STAMP)
	$(BIN)/mypy .

pytest: install browser
	$(BIN)/pytest $(PYTEST_ARGS)

# Synthesis never needs (or uses) AWS credentials: the stacks are account-agnostic without them.
NO_AWS_CREDENTIALS := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
CDK := $(NO_AWS_CREDENTIALS) npx --no-install cdk
# The custom-origin variant synthesized by synth-check (an example store; the secret need not exist).
CUSTOM_ORIGIN_EXAMPLE := {"endpoint": "https://objects.example.com", "bucket": "edgemeter-objects", \
	"credentialsSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:edgemeter/origin"}

synth: install
	$(CDK) synth --quiet --no-notices $(CDK_ARGS)

# cdk synth (pinned CLI, real Docker-free bundling) for every origin kind and `python app.py`,
# all without AWS credentials; cdk-nag runs inside each synth (Validations) and fails it on any
# unsuppressed finding; then cfn-lint on every template (errors fail, warnings are shown).
synth-check: install
	rm -rf cdk.out
	$(CDK) synth --quiet --no-notices -c edgemeter:originKind=s3 --output cdk.out/s3
	$(CDK) synth --quiet --no-notices -c edgemeter:originKind=custom \
		-c 'edgemeter:customOrigin=$(CUSTOM_ORIGIN_EXAMPLE)' --output cdk.out/custom
	$(NO_AWS_CREDENTIALS) CDK_OUTDIR=cdk.out/direct $(PY) app.py
	$(BIN)/cfn-lint --non-zero-exit-code error cdk.out/s3/*.template.json cdk.out/custom/*.template.json \
		cdk.out/direct/*.template.json

test: lint typecheck pytest synth-check

bench: install
	$(PY) -m bench.run $(ARGS)

soak: install
	$(BIN)/pytest tests/reliability -m soak $(PYTEST_ARGS)

audit: install
	$(BIN)/edgemeter audit $(ARGS)

clean:
	rm -rf $(VENV) node_modules cdk.out .build .mypy_cache .ruff_cache .pytest_cache .hypothesis
