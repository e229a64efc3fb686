# Pheme: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
# Debian packages the tests use. Installed only when missing.
APT_PACKAGES ?= git python3-venv postgresql prometheus nginx chromium

.PHONY: demo test lint system-deps venv bench-quick clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@$(PY) -m compileall -q src >/dev/null  # bytecode, as a wheel install has it: faster starts
	@touch $@

venv: $(VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The quick deployment-safety benchmark is part of the tests (issue 6): it fails if a guarantee breaks.
# pytest runs last so that its summary line closes the output.
test: system-deps venv lint
	@echo "== bench/deploy_safety.py --quick"; set -o pipefail; $(PY) bench/deploy_safety.py --quick 2>/dev/null | tail -n 1
	@$(VENV)/bin/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

bench-quick: venv
	@for b in bench/*.py; do echo "== $$b --quick"; $(PY) $$b --quick || exit 1; done

demo: venv
	@bash examples/demo.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
