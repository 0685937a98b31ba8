# Deckwatch developer and CI entry points. `make test` is what CI runs (.ci/run calls it on a clean clone).
#
#   make venv            .venv (Python 3.13) with the project installed editable, extras [dev]
#   make tools           SAM CLI, checkov (each in its own venv under .tools/) and statelint (npm, .tools/node);
#                        independent, so `make -j3 tools` installs them in parallel
#   make lint            ruff check, ruff format --check, mypy
#   make check-template  sam validate (+ --lint), cfn-lint and checkov on the translated template, ASL checks
#   make test            all of the above, then pytest with coverage (and workload/checks.sh if present)
#   make demo            .venv/bin/deckwatch demo

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

export PYENV_VERSION := 3.13.0
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

PYTHON ?= python3.13
VENV := .venv
TOOLS := .tools
SAM_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
STATELINT_VERSION := 1.30.0
# -qq: only errors (this machine's pip config adds index locations that produce a warning per package)
PIP_QUIET ?= -qq

VENV_STAMP := $(VENV)/.installed
SAM_STAMP := $(TOOLS)/sam/.installed-$(SAM_VERSION)
CHECKOV_STAMP := $(TOOLS)/checkov/.installed-$(CHECKOV_VERSION)
STATELINT_STAMP := $(TOOLS)/node/.installed-$(STATELINT_VERSION)

.PHONY: venv tools lint check-template test demo clean-tools clean

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install $(PIP_QUIET) -e '.[dev]'
	@touch $@

tools: $(SAM_STAMP) $(CHECKOV_STAMP) $(STATELINT_STAMP)

# SAM CLI and checkov pin libraries (boto3, pydantic, cfn-lint...) that clash with the project's, hence own venvs.
$(SAM_STAMP):
	@rm -rf $(TOOLS)/sam && $(PYTHON) -m venv $(TOOLS)/sam
	$(TOOLS)/sam/bin/python -m pip install $(PIP_QUIET) aws-sam-cli==$(SAM_VERSION)
	@touch $@

$(CHECKOV_STAMP):
	@rm -rf $(TOOLS)/checkov && $(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/python -m pip install $(PIP_QUIET) checkov==$(CHECKOV_VERSION)
	@touch $@

$(STATELINT_STAMP):
	@rm -rf $(TOOLS)/node && mkdir -p $(TOOLS)/node
	npm install --prefix $(TOOLS)/node --no-audit --no-fund --loglevel=error @wmfs/statelint@$(STATELINT_VERSION)
	@test -x $(TOOLS)/node/node_modules/.bin/statelint
	@touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

check-template: venv tools
	bash .ci/check-template.sh

# Each step prints its duration; the first failure stops the run.
timed = start=$$SECONDS; $(2); echo "-- $(1): $$((SECONDS - start))s"

test: venv tools
	@$(call timed,lint,$(MAKE) --no-print-directory lint)
	@$(call timed,check-template,$(MAKE) --no-print-directory check-template)
	@$(call timed,pytest,$(VENV)/bin/python -m pytest --cov=deckwatch --cov-report=term -q)
	@if [ -f workload/checks.sh ]; then \
	  echo "== workload/checks.sh"; \
	  $(call timed,workload/checks.sh,VENV=$(VENV) CHECKOV=$(TOOLS)/checkov/bin/checkov bash workload/checks.sh); \
	fi

demo: venv
	$(VENV)/bin/deckwatch demo

clean-tools:
	rm -rf $(TOOLS)

clean: clean-tools
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage
