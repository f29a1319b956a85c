# The two commands: `make run` and `make test`. Everything else is optional.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: help install run demo test test-cluster test-upgrade test-unit test-integration test-faults test-bench lint docs bench clean tools test-deploy runtime-lock contract-check contract-tool mutation

help:
	@echo "make run    - start the platform on the embedded stack, play the demo, keep it up (Ctrl-C stops)"
	@echo "make test   - install and run the whole suite (unit + integration + faults) on real infrastructure"
	@echo "make test-cluster - broker faults on a 3-node Kafka cluster (left out of make test: ~15 min)"
	@echo "make test-upgrade - a rolling upgrade from the last release to this build (left out of make test)"
	@echo "make demo   - the scenario on a fresh embedded stack; exits non-zero unless every step was seen"
	@echo "make lint   - ruff, mypy, the import-linter layer contracts and pip-audit"
	@echo "make docs   - regenerate the AsyncAPI documents under docs/asyncapi/"
	@echo "make contract-check - fail on a contract change that breaks the last release's consumers (CHANGELOG.md)"
	@echo "make bench  - the flash-sale benchmark (writes bench/results/latest.json)"
	@echo "make mutation - mutation score of the pure decision modules against tests/unit (docs/mutation.md)"

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m devstack run

demo: $(STAMP)
	$(PY) -m devstack demo

test: $(STAMP) tools contract-tool
	$(PY) -m pytest $(PYTEST_ARGS)

# broker faults on a 3-node Kafka cluster (tests/faults/test_cluster.py, marker `cluster`): minutes on 2 cores,
# so `make test` leaves them out and CI runs them as a second command
test-cluster: $(STAMP)
	$(PY) -m pytest tests/faults/test_cluster.py -m cluster $(PYTEST_ARGS)

# a rolling upgrade from the last release (CHANGELOG.md) to this build (tests/faults/test_rolling_upgrade.py, marker
# `upgrade`): the release's commit in a git worktree with a virtualenv of its own, so `make test` leaves it out
test-upgrade: $(STAMP)
	$(PY) -m pytest tests/faults/test_rolling_upgrade.py -m upgrade $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-faults: $(STAMP)
	$(PY) -m pytest tests/faults $(PYTEST_ARGS)

# the benchmark harness on a tiny scenario (part of `make test`, which runs all of tests/)
test-bench: $(STAMP)
	$(PY) -m pytest tests/bench $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache  # the layer contracts in pyproject.toml [tool.importlinter]
	$(PY) -m devstack.audit requirements.lock  # AUDIT_STRICT=1 (CI): packages it could not audit fail too

# mutmut over the pure decision modules, killed by the unit tests alone (devstack/mutation.py, docs/mutation.md);
# minutes of CPU, so `make test` leaves it out. MUTATION_ARGS=--keep keeps the last run's kills.
mutation: $(STAMP)
	$(PY) -m devstack.mutation $(MUTATION_ARGS)

docs: $(STAMP)
	$(PY) -m shared.asyncapi_docs write

# The AsyncAPI differ (@asyncapi/diff, pinned in tools/contract-check/package-lock.json) in tools/contract-check/node_modules
CONTRACT_TOOL := tools/contract-check/node_modules/.installed-$(shell cat tools/contract-check/package-lock.json | cksum | cut -d' ' -f1)
$(CONTRACT_TOOL): tools/contract-check/package.json tools/contract-check/package-lock.json
	cd tools/contract-check && npm ci --no-audit --no-fund --silent
	touch $(CONTRACT_TOOL)

contract-tool: $(CONTRACT_TOOL)

# the current AsyncAPI documents against the last release's (CHANGELOG.md, docs/asyncapi/releases/)
contract-check: $(STAMP) $(CONTRACT_TOOL)
	$(PY) -m devstack.contract_check

bench: $(STAMP)
	$(PY) -m bench

# The deploy tests' tools (docker-compose, Debian's kubectl 1.20): installed only when missing (deploy/install-tools.sh).
tools:
	@sh deploy/install-tools.sh $(VENV)/tools

test-deploy: $(STAMP) tools
	$(PY) -m pytest tests/deploy $(PYTEST_ARGS)

# requirements-runtime.lock: the runtime subset of requirements.lock (same versions, with hashes) for deploy/Dockerfile
runtime-lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --constraint requirements.lock \
	  --generate-hashes --quiet --custom-compile-command "make runtime-lock" -o requirements-runtime.lock

clean:
	rm -rf .devstack .pytest_cache .mypy_cache .ruff_cache .hypothesis
